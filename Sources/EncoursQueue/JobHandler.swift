import EncoursPostgres
import EncoursTenancy
import Logging
import Synchronization

/// What a handler gets for one attempt of one job.
public struct JobContext: Sendable {
    /// The job as claimed (its `attempt` is this attempt's number).
    public let job: Job
    /// A logger carrying `job.id`, `job.kind` and `tenant.id`.
    public let logger: Logger
    let pool: PostgresPool
    let workerID: String
    let lease: Duration
    /// The worker's record of this attempt: its transactions note a completion there.
    let attempt: HeldJob

    init(job: Job, logger: Logger, pool: PostgresPool, workerID: String, lease: Duration, attempt: HeldJob) {
        self.job = job
        self.logger = logger
        self.pool = pool
        self.workerID = workerID
        self.lease = lease
        self.attempt = attempt
    }

    /// Runs `body` in one transaction that is fenced by this attempt's lease and scoped to the job's tenant.
    ///
    /// Before `body` runs, the job's row is locked (`FOR KEY SHARE`) and checked to still be
    /// `running` this attempt for this worker; if not, nothing runs and the call throws
    /// `leaseLost` — or `cancelled` when a cancel was requested. That lock keeps every rescuer
    /// off the job until the transaction ends, yet lets the worker's heartbeats go on renewing
    /// the lease, so a transaction may run longer than the lease. `body` then runs as the
    /// tenant's role (row-level security) with the job's own tenant, never one from the payload.
    /// Jobs enqueued through ``JobTransaction/enqueue(_:)``, and the job's own completion when
    /// ``JobTransaction/completeJob()`` is called, commit or roll back with `body`'s writes.
    ///
    /// A transaction left idle for longer than the lease (its process stopped, say) is ended
    /// by PostgreSQL (`idle_in_transaction_session_timeout`), which releases the job to rescue;
    /// one whose lease lapsed while its session was busy (stopped in the middle of a `COPY`,
    /// or waiting for a lock) is ended by the rescuer, which finds it by its `application_name`.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (JobTransaction) throws -> T) async throws -> T {
        let (job, workerID, lease, attempt) = (self.job, self.workerID, self.lease, self.attempt)
        return try await pool.withConnection { connection in
            try JobTransaction.run(job: job, workerID: workerID, lease: lease, attempt: attempt, on: connection, body)
        }
    }
}

extension JobContext {
    /// Runs ``transaction(_:)``, and runs it again while the database cannot be reached, until
    /// it commits or the attempt is stopped.
    ///
    /// For the write that records what a handler already did outside the database (messages
    /// sent, files written): when that write fails because the connection was lost — a server
    /// restart, a failover — failing the attempt would do the work again on its retry. Here the
    /// worker tries again (100 ms, doubling to 2 s) for as long as it holds the job: the fence is
    /// checked anew each time, and the lease keeper stops the attempt (cancelling this wait)
    /// before its lease can lapse. Other errors are thrown at once. `body` may run more than once,
    /// so it must only write, never send.
    public func transaction<T: Sendable>(
        retryingWhileUnreachable: Bool, _ body: @escaping @Sendable (JobTransaction) throws -> T
    ) async throws -> T {
        guard retryingWhileUnreachable else { return try await transaction(body) }
        var delay = Duration.milliseconds(100)
        var failures = 0
        while true {
            do {
                let value = try await transaction(body)
                if failures > 0 {
                    logger.notice("recorded the attempt's outcome once the database was back", metadata: ["tries": "\(failures + 1)"])
                }
                return value
            } catch let connectionError as PostgresError where connectionError.isConnectionError {
                failures += 1
                if failures == 1 {
                    logger.warning("could not record the attempt's outcome: the database is unreachable; trying again while the job's lease holds",
                                   metadata: ["error": "\(connectionError)"])
                }
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    throw connectionError  // stopped (lease deadline, shutdown): the lost connection is the reason
                }
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// Runs `body` in a read-only transaction scoped to the job's tenant, without the lease fence.
    ///
    /// For reads that prepare the attempt's work (loading what to send): nothing it does can be
    /// written (the transaction is read-only once the scope is open), its commit waits for no
    /// disk flush, and it does not check the lease; writes that must be fenced go through
    /// ``transaction(_:)``. `body` runs as the tenant's role (row-level security) in the job's
    /// own tenant scope.
    public func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let (job, lease) = (self.job, self.lease)
        return try await pool.withConnection { connection in
            try connection.execute("BEGIN")
            do {
                // The scope's own row is in an unlogged table: the commit has nothing to flush.
                try JobTransaction.setLocal(
                    ["synchronous_commit": "off", "idle_in_transaction_session_timeout": JobTransaction.idleTimeout(lease)], on: connection)
                try TenantScope.assume(tenantID: job.tenantID, actor: "job \(job.id) (\(job.kind))", on: connection)
                try connection.execute("SET LOCAL transaction_read_only = on")
                let value = try body(connection)
                try connection.execute("COMMIT")
                return value
            } catch {
                if connection.isHealthy { try? connection.execute("ROLLBACK") }
                throw error
            }
        }
    }
}

/// One fenced, tenant-scoped transaction of a job's attempt (see ``JobContext/transaction(_:)``).
///
/// Valid only inside the `body` it is passed to.
public final class JobTransaction {
    /// The connection, inside the transaction, as the tenant's role.
    public let connection: PostgresConnection
    /// The job whose attempt this is.
    public let job: Job
    private(set) var completesJob = false

    init(connection: PostgresConnection, job: Job) {
        self.connection = connection
        self.job = job
    }

    /// Enqueues follow-up jobs in this transaction; they must belong to the job's own tenant.
    @available(*, noasync, message: "blocks its thread: call it inside JobContext.transaction")
    public func enqueue(_ jobs: [NewJob]) throws -> JobQueue.EnqueueResult {
        for other in jobs where other.tenantID != job.tenantID {
            throw QueueError(.invalidInput, "job \(job.id) of tenant \(job.tenantID) cannot enqueue a job for tenant \(other.tenantID)")
        }
        return try JobQueue.enqueue(jobs, on: connection)
    }

    /// Inserts many follow-up jobs of the job's own tenant with `COPY` (no unique keys, no ids
    /// returned); returns how many. About twice as fast as ``enqueue(_:)`` for large batches, such
    /// as one delivery job per reminder of a large dunning run.
    @available(*, noasync, message: "blocks its thread: call it inside JobContext.transaction")
    public func bulkEnqueue(_ jobs: [NewJob]) throws -> Int {
        for other in jobs where other.tenantID != job.tenantID {
            throw QueueError(.invalidInput, "job \(job.id) of tenant \(job.tenantID) cannot enqueue a job for tenant \(other.tenantID)")
        }
        // PostgreSQL refuses COPY into a table under row-level security for a role it applies to:
        // the rows are checked above, and the copy runs as the owner, then the tenant role resumes.
        try TenantScope.leaveRole(on: connection)
        let copied = try JobQueue.bulkEnqueue(jobs, on: connection)
        try TenantScope.resumeRole(on: connection)
        return copied
    }

    /// What the job's transaction calls itself in `pg_stat_activity` while it runs
    /// (`application_name`, transaction-local): a rescuer finding the attempt's lease lapsed ends
    /// that session (``QueueStatements/rescueExpired(limit:policy:on:)``).
    static func sessionName(_ job: Job) -> String {
        "encours job \(job.id) attempt \(job.attempt)"
    }

    /// The `idle_in_transaction_session_timeout` of a job's transactions: the lease, so that a
    /// worker stopped mid-transaction (SIGSTOP, a debugger, a frozen VM) does not hold its job
    /// locked, and its tenant's rows, until it wakes.
    static func idleTimeout(_ lease: Duration) -> String {
        String(max(1_000, lease.inMilliseconds))
    }

    /// Sets server settings for the current transaction only (`set_config(..., true)`, so safe
    /// behind PgBouncer), all in one statement; names and values are bind parameters.
    @available(*, noasync)
    static func setLocal(_ settings: KeyValuePairs<String, String>, on connection: PostgresConnection) throws {
        let calls = (0..<settings.count).map { "set_config($\(2 * $0 + 1), $\(2 * $0 + 2), true)" }
        try connection.query("SELECT " + calls.joined(separator: ", "), settings.flatMap { [$0.key, $0.value] })
    }

    /// Marks the job completed when this transaction commits, together with its writes.
    public func completeJob() {
        completesJob = true
    }

    @available(*, noasync)
    static func run<T>(
        job: Job, workerID: String, lease: Duration, attempt: HeldJob, on connection: PostgresConnection,
        _ body: (JobTransaction) throws -> T
    ) throws -> T {
        try connection.execute("BEGIN")
        do {
            try setLocal(["idle_in_transaction_session_timeout": idleTimeout(lease), "application_name": sessionName(job)], on: connection)
            // The fence, as the schema owner. FOR KEY SHARE conflicts with the rescuers' FOR UPDATE
            // (they skip the job until this transaction ends) but not with the heartbeats'
            // FOR NO KEY UPDATE: the lease goes on being renewed however long `body` takes.
            guard let fence = try connection.query(
                """
                SELECT cancel_requested FROM encours.jobs
                WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'running'
                FOR KEY SHARE
                """, [job.id, job.attempt, workerID]
            ).first else {
                throw QueueError(.leaseLost, "job \(job.id) attempt \(job.attempt) is no longer leased to worker \(workerID); nothing was written")
            }
            if try fence.decode(0, as: Bool.self) {
                throw QueueError(.cancelled, "job \(job.id) was cancelled; nothing was written")
            }
            try TenantScope.assume(tenantID: job.tenantID, actor: "job \(job.id) (\(job.kind))", on: connection)
            let transaction = JobTransaction(connection: connection, job: job)
            let value = try body(transaction)
            if transaction.completesJob {
                try TenantScope.leaveRole(on: connection)
                let completed = try connection.query(
                    """
                    UPDATE encours.jobs SET state = 'completed', finalized_at = clock_timestamp(), worker_id = NULL, lease_expires_at = NULL
                    WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'running'
                    """, [job.id, job.attempt, workerID]
                ).affectedRows
                guard completed == 1 else {
                    throw QueueError(.leaseLost, "job \(job.id) attempt \(job.attempt) lost its lease before completing; nothing was written")
                }
            }
            try connection.execute("COMMIT")
            if transaction.completesJob { attempt.markCompletedInTransaction() }
            return value
        } catch {
            if connection.isHealthy { try? connection.execute("ROLLBACK") }
            throw error
        }
    }
}

/// Runs jobs of one kind.
///
/// Throwing marks the attempt failed (retried with backoff, then discarded); a handler that is
/// cancelled (job cancelled, lease about to lapse, or worker shutting down past its grace
/// period) should stop promptly. Database work goes through ``JobContext/transaction(_:)``.
public protocol JobHandler: Sendable {
    /// The kind this handler runs, such as `noop` or `dunning.run`.
    var kind: String { get }
    func handle(_ context: JobContext) async throws
}
