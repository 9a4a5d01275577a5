import EncoursPostgres
import Foundation

/// The SQL a worker runs, one function per statement, on a connection the caller provides.
///
/// Every statement that writes on behalf of an attempt (its record, its heartbeat, its release)
/// is fenced by the job id, the attempt number and the worker id, and only touches a job that is
/// still `running`: a worker that lost a lease can never write over a later run of the job.
enum QueueStatements {
    /// Seconds as text for `make_interval(secs => ...)`.
    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", duration.inSeconds)
    }

    /// The migrations this build needs, by their number: a worker refuses an older schema.
    static func schemaVersion(on connection: PostgresConnection) throws -> Int? {
        let exists = try connection.query("SELECT to_regclass('encours.schema_migrations') IS NOT NULL").decode(Bool.self, row: 0, column: 0)
        guard exists else { return nil }
        return try connection.query("SELECT coalesce(max(version), 0) FROM encours.schema_migrations").decode(Int.self, row: 0, column: 0)
    }

    static func register(_ configuration: WorkerConfiguration, kinds: [String], on connection: PostgresConnection) throws {
        try connection.query(
            """
            INSERT INTO encours.workers (id, host, pid, concurrency, kinds)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now()
            """,
            [
                configuration.workerID, ProcessInfo.processInfo.hostName,
                Int(ProcessInfo.processInfo.processIdentifier), configuration.concurrency, kinds,
            ])
    }

    static func unregister(workerID: String, on connection: PostgresConnection) throws {
        try connection.query("DELETE FROM encours.workers WHERE id = $1", [workerID])
        try connection.query("DELETE FROM encours.leaders WHERE worker_id = $1", [workerID])
    }

    ///
    /// Unless `durable`, the claim's own transaction commits without waiting for the WAL flush:
    /// `set_config(..., true)` is local to the statement's transaction, so nothing outlives it on
    /// the connection (a server connection shared through PgBouncer's transaction pooling
    /// keeps its settings).
    static func claim(
        workerID: String, limit: Int, lease: Duration, cursor: Int64, tenantIDs: [Int64]?, excludedTenantIDs: [Int64]?,
        kinds: [String], durable: Bool, on connection: PostgresConnection
    ) throws -> [Job] {
        let call = "encours.claim_jobs($1, $2, make_interval(secs => $3::double precision), $4, $5, $6, $7)"
        return try Job.decodeAll(connection.query(
            durable
                ? "SELECT \(Job.columns) FROM \(call)"
                : "SELECT \(Job.columns) FROM (SELECT set_config('synchronous_commit', 'off', true)) AS local_commit, \(call)",
            [workerID, limit, seconds(lease), cursor, tenantIDs, excludedTenantIDs, kinds]))
    }

    /// One attempt's end, to be written by the completer.
    struct Record: Sendable {
        var jobID: Int64
        var attempt: Int
        var resolution: AttemptResolution

        /// A plain success: written by the lean statement (nothing but id and attempt to send).
        var isSuccess: Bool { resolution.state == .completed && resolution.error == nil }
    }

    /// What writing a batch of records did.
    struct RecordOutcome: Sendable {
        /// Jobs whose record was written.
        var recorded: [Int64] = []
        /// Jobs whose record the fence dropped: the attempt no longer held the lease.
        var stale: [Int64] = []
        /// How many jobs became available again (to wake workers).
        var madeAvailable = 0
    }

    /// Writes many attempts' ends: successes in one lean statement, any other ends in a second
    /// one. A record whose job is no longer running this attempt for this worker is dropped and
    /// reported as stale. A cancel requested meanwhile wins over a failure or a release.
    static func record(_ records: [Record], workerID: String, on connection: PostgresConnection) throws -> RecordOutcome {
        var successes: [Record] = []
        var others: [Record] = []
        for record in records {
            if record.isSuccess { successes.append(record) } else { others.append(record) }
        }
        var outcome = RecordOutcome()
        if !successes.isEmpty { outcome.recorded += try recordCompleted(successes, workerID: workerID, on: connection) }
        if !others.isEmpty {
            let (written, available) = try recordOther(others, workerID: workerID, on: connection)
            outcome.recorded += written
            outcome.madeAvailable = available
        }
        if outcome.recorded.count < records.count {
            let written = Set(outcome.recorded)
            outcome.stale = records.map(\.jobID).filter { !written.contains($0) }
        }
        return outcome
    }

    /// The common case, in a lean statement: successful attempts (ids and attempt numbers only).
    private static func recordCompleted(_ records: [Record], workerID: String, on connection: PostgresConnection) throws -> [Int64] {
        try connection.query(
            """
            UPDATE encours.jobs j SET state = 'completed', finalized_at = now(), worker_id = NULL, lease_expires_at = NULL
            FROM unnest($1::bigint[], $2::integer[]) AS d (id, attempt)
            WHERE j.id = d.id AND j.attempt = d.attempt AND j.worker_id = $3 AND j.state = 'running'
            RETURNING j.id
            """,
            [records.map(\.jobID), records.map(\.attempt), workerID]
        ).rows.map { try $0.decode(0, as: Int64.self) }
    }

    /// Failures, retries, cancellations and releases: every field of the resolution.
    private static func recordOther(_ records: [Record], workerID: String, on connection: PostgresConnection) throws -> ([Int64], Int) {
        let rows = try connection.query(
            """
            UPDATE encours.jobs j SET
                state = (CASE WHEN j.cancel_requested AND d.state <> 'completed' THEN 'cancelled' ELSE d.state END)::encours.job_state,
                finalized_at = CASE WHEN (j.cancel_requested AND d.state <> 'completed')
                                         OR d.state IN ('completed', 'discarded', 'cancelled') THEN now() END,
                run_at = CASE WHEN d.delay_seconds IS NULL OR (j.cancel_requested AND d.state <> 'completed') THEN j.run_at
                              ELSE now() + make_interval(secs => d.delay_seconds) END,
                uncounted_attempts = j.uncounted_attempts
                    + CASE WHEN d.uncount AND NOT (j.cancel_requested AND d.state <> 'completed') THEN 1 ELSE 0 END,
                errors = CASE WHEN j.cancel_requested AND d.state NOT IN ('completed', 'cancelled')
                              THEN encours.capped_errors(j.errors, jsonb_build_object('attempt', j.attempt, 'at', now(), 'error',
                                   'cancelled while running (the attempt ' || CASE WHEN d.uncount THEN 'was released at shutdown'
                                   ELSE 'failed: ' || coalesce(d.error, '?') END || ')'))
                              WHEN d.error IS NULL THEN j.errors
                              ELSE encours.capped_errors(j.errors, jsonb_build_object('attempt', j.attempt, 'at', now(), 'error', d.error)) END,
                errors_dropped = j.errors_dropped
                    + CASE WHEN d.error IS NULL AND NOT (j.cancel_requested AND d.state NOT IN ('completed', 'cancelled')) THEN 0
                           ELSE encours.dropped_errors(j.errors) END,
                worker_id = NULL,
                lease_expires_at = NULL
            FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::double precision[], $5::text[], $6::boolean[])
                AS d (id, attempt, state, delay_seconds, error, uncount)
            WHERE j.id = d.id AND j.attempt = d.attempt AND j.worker_id = $7 AND j.state = 'running'
            RETURNING j.id, j.state
            """,
            [
                records.map(\.jobID), records.map(\.attempt), records.map(\.resolution.state.rawValue),
                records.map { $0.resolution.retryDelay.map(seconds) }, records.map(\.resolution.error),
                records.map(\.resolution.uncountsAttempt), workerID,
            ]
        ).rows
        var written: [Int64] = []
        var available = 0
        for row in rows {
            written.append(try row.decode(0, as: Int64.self))
            if try row.decode(1, as: JobState.self) == .available { available += 1 }
        }
        return (written, available)
    }

    /// A job this worker holds, as a heartbeat sends it.
    struct Lease: Sendable, Hashable {
        var jobID: Int64
        var attempt: Int
    }

    /// What a heartbeat learned of the leases it was given.
    struct HeartbeatOutcome: Sendable {
        /// Leases extended, with whether each job has a cancel request.
        var renewed: [Int64: Bool] = [:]
        /// Leases still held but locked right now (by the job's own fenced transaction, or the
        /// completer writing its record): not extended this time, not lost.
        var busy: [Int64: Bool] = [:]
    }

    /// Extends the leases this worker still holds (fenced by worker id and attempt, skipping rows
    /// locked right now) and its registry heartbeat. A lease in neither set of the outcome is lost.
    static func heartbeat(workerID: String, leases: [Lease], lease: Duration, on connection: PostgresConnection) throws -> HeartbeatOutcome {
        try connection.query(
            """
            INSERT INTO encours.workers (id, host, pid, concurrency) VALUES ($1, $2, $3, 0)
            ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now()
            """,
            [workerID, ProcessInfo.processInfo.hostName, Int(ProcessInfo.processInfo.processIdentifier)])
        var outcome = HeartbeatOutcome()
        guard !leases.isEmpty else { return outcome }
        let ids = leases.map(\.jobID)
        let attempts = leases.map(\.attempt)
        for row in try connection.query(
            """
            WITH held AS (
                SELECT j.id FROM encours.jobs j
                JOIN unnest($1::bigint[], $2::integer[]) AS d (id, attempt) ON j.id = d.id AND j.attempt = d.attempt
                WHERE j.worker_id = $3 AND j.state = 'running'
                FOR NO KEY UPDATE OF j SKIP LOCKED
            )
            UPDATE encours.jobs j SET lease_expires_at = now() + make_interval(secs => $4::double precision)
            FROM held WHERE j.id = held.id
            RETURNING j.id, j.cancel_requested
            """,
            [ids, attempts, workerID, seconds(lease)]
        ).rows {
            outcome.renewed[try row.decode(0, as: Int64.self)] = try row.decode(1, as: Bool.self)
        }
        guard outcome.renewed.count < leases.count else { return outcome }
        let missing = leases.filter { outcome.renewed[$0.jobID] == nil }
        for row in try connection.query(
            """
            SELECT j.id, j.cancel_requested FROM encours.jobs j
            JOIN unnest($1::bigint[], $2::integer[]) AS d (id, attempt) ON j.id = d.id AND j.attempt = d.attempt
            WHERE j.worker_id = $3 AND j.state = 'running'
            """,
            [missing.map(\.jobID), missing.map(\.attempt), workerID]
        ).rows {
            outcome.busy[try row.decode(0, as: Int64.self)] = try row.decode(1, as: Bool.self)
        }
        return outcome
    }

    /// Moves scheduled and retryable jobs whose time has come to `available`.
    static func promoteDue(limit: Int, on connection: PostgresConnection) throws -> Int {
        try connection.query(
            """
            WITH due AS (
                SELECT id FROM encours.jobs
                WHERE state IN ('scheduled', 'retryable') AND run_at <= now()
                ORDER BY run_at LIMIT $1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE encours.jobs j SET state = 'available' FROM due WHERE j.id = due.id
            """, [limit]
        ).affectedRows
    }

    /// What a rescue did.
    struct RescueOutcome: Sendable, Equatable {
        var retried = 0
        var discarded = 0
        var cancelled = 0
        /// Sessions ended because they still ran the transaction of an attempt whose lease lapsed
        /// (their jobs are rescued at the next pass, once those sessions are gone).
        var endedSessions = 0
        var total: Int { retried + discarded + cancelled }
    }

    /// Takes back jobs whose lease lapsed (their worker died, hung or was cut off): retried after
    /// the backoff of `policy` when attempts remain, else discarded; cancelled if a cancel was
    /// requested. Each gets a "worker lost" entry in its errors.
    static func rescueExpired(limit: Int, policy: RetryPolicy, on connection: PostgresConnection) throws -> RescueOutcome {
        var outcome = RescueOutcome()

        for row in try connection.query(
            """
            WITH lost AS (
                SELECT id FROM encours.jobs
                WHERE state = 'running' AND lease_expires_at < now()
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE encours.jobs j SET
                state = (CASE WHEN j.cancel_requested THEN 'cancelled'
                              WHEN j.attempt - j.uncounted_attempts >= j.max_attempts THEN 'discarded'
                              ELSE 'retryable' END)::encours.job_state,
                finalized_at = CASE WHEN j.cancel_requested OR j.attempt - j.uncounted_attempts >= j.max_attempts THEN now() END,
                run_at = CASE WHEN j.cancel_requested OR j.attempt - j.uncounted_attempts >= j.max_attempts THEN j.run_at
                              ELSE now() + encours.retry_delay(j.attempt - j.uncounted_attempts, $2, $3, $4) END,
                errors = encours.capped_errors(j.errors, jsonb_build_object(
                    'attempt', j.attempt, 'at', now(),
                    'error', 'worker lost: worker ' || coalesce(j.worker_id, '?') || ' stopped renewing its lease')),
                errors_dropped = j.errors_dropped + encours.dropped_errors(j.errors),
                worker_id = NULL,
                lease_expires_at = NULL
            FROM lost WHERE j.id = lost.id
            RETURNING j.state
            """, [limit, policy.base.inSeconds, policy.maximum.inSeconds, policy.jitter]
        ).rows {
            switch try row.decode(0, as: JobState.self) {
            case .discarded: outcome.discarded += 1
            case .cancelled: outcome.cancelled += 1
            default: outcome.retried += 1
            }
        }
        // Lapsed attempts still locked by their own transaction were skipped above: their worker
        // stopped while its session was busy (in a COPY, waiting for a lock), so no idle timeout
        // ends it. Their lease lapsed, so their worker has stopped them or will before they could
        // commit: their sessions are ended, and the next pass rescues the jobs.
        let stuck = try connection.query(
            "SELECT 'encours job ' || id || ' attempt ' || attempt FROM encours.jobs WHERE state = 'running' AND lease_expires_at < now()"
        ).rows.map { try $0.decode(0, as: String.self) }
        if !stuck.isEmpty {
            outcome.endedSessions = try connection.query(
                """
                SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE application_name = ANY ($1::text[]) AND datname = current_database() AND pid <> pg_backend_pid()
                """, [stuck]
            ).decode(Int.self, row: 0, column: 0)
        }
        return outcome
    }

    /// Takes or keeps the named leadership for `ttl`; true when this worker holds it.
    static func elect(role: String, workerID: String, ttl: Duration, on connection: PostgresConnection) throws -> Bool {
        try connection.query(
            """
            INSERT INTO encours.leaders AS l (name, worker_id, expires_at)
            VALUES ($1, $2, now() + make_interval(secs => $3::double precision))
            ON CONFLICT (name) DO UPDATE SET
                worker_id = EXCLUDED.worker_id,
                expires_at = EXCLUDED.expires_at,
                elected_at = CASE WHEN l.worker_id = EXCLUDED.worker_id THEN l.elected_at ELSE now() END
            WHERE l.worker_id = EXCLUDED.worker_id OR l.expires_at < now()
            RETURNING worker_id
            """, [role, workerID, seconds(ttl)]
        ).count == 1
    }

    /// Gives up the named leadership if this worker holds it.
    static func resign(role: String, workerID: String, on connection: PostgresConnection) throws {
        try connection.query("DELETE FROM encours.leaders WHERE name = $1 AND worker_id = $2", [role, workerID])
    }

    /// Deletes one bounded batch of finished jobs past retention (up to `limit` completed or
    /// cancelled ones, and as many discarded ones); returns how many.
    ///
    /// Each statement walks `jobs_finalized_idx` oldest first and deletes by primary key: a
    /// join here would let the planner scan the whole table per batch, and a long statement
    /// holds back the horizon that lets claims skip the queue's dead index entries.
    static func prune(completed: Duration, discarded: Duration, limit: Int, on connection: PostgresConnection) throws -> Int {
        let finished = try connection.query(
            """
            DELETE FROM encours.jobs WHERE id = ANY (ARRAY(
                SELECT id FROM encours.jobs
                WHERE state IN ('completed', 'cancelled') AND finalized_at < now() - make_interval(secs => $1::double precision)
                ORDER BY finalized_at LIMIT $2
            ))
            """, [seconds(completed), limit]
        ).affectedRows
        let discarded = try connection.query(
            """
            DELETE FROM encours.jobs WHERE id = ANY (ARRAY(
                SELECT id FROM encours.jobs
                WHERE state = 'discarded' AND finalized_at < now() - make_interval(secs => $1::double precision)
                ORDER BY finalized_at LIMIT $2
            ))
            """, [seconds(discarded), limit]
        ).affectedRows
        return finished + discarded
    }

    /// Vacuums the jobs table when it has more than 10,000 dead row versions (and the role may).
    static func vacuumIfChurned(on connection: PostgresConnection) throws {
        let dead = try connection.query(
            "SELECT coalesce(n_dead_tup, 0) FROM pg_stat_user_tables WHERE relid = 'encours.jobs'::regclass"
        ).first.map { try $0.decode(0, as: Int.self) } ?? 0
        guard dead > 10_000 else { return }
        do {
            try connection.execute("VACUUM (ANALYZE) encours.jobs")
        } catch let error as PostgresError where error.sqlState == "42501" {
            // Not the table's owner: leave it to autovacuum.
        }
    }

    /// The queue as the leader's gauges show it: unfinished jobs by state, kind and tenant with the
    /// age of the oldest (since its due time; since its claim for running jobs), running jobs
    /// whose lease lapsed, and workers that heartbeated within `alive`.
    static func gaugeReadings(alive: Duration, on connection: PostgresConnection) throws
        -> (groups: [(state: String, kind: String, tenant: String, jobs: Int, oldestSeconds: Double)], lapsed: Int, workers: Int)
    {
        let groups = try connection.query(
            """
            SELECT j.state::text, j.kind, t.slug, count(*)::bigint,
                   greatest(0, extract(epoch FROM now() - min(CASE WHEN j.state = 'running' THEN j.attempted_at ELSE j.run_at END)))::float8
            FROM encours.jobs j JOIN encours.tenants t ON t.id = j.tenant_id
            WHERE j.state IN ('available', 'scheduled', 'running', 'retryable')
            GROUP BY 1, 2, 3
            """)
        let totals = try connection.query(
            """
            SELECT (SELECT count(*) FROM encours.jobs WHERE state = 'running' AND lease_expires_at < now())::bigint,
                   (SELECT count(*) FROM encours.workers WHERE last_heartbeat_at > now() - make_interval(secs => $1::float8))::bigint
            """, [alive.inSeconds])
        return (
            try groups.rows.map { (try $0.decode(0), try $0.decode(1), try $0.decode(2), try $0.decode(3), try $0.decode(4)) },
            try totals.decode(Int.self, row: 0, column: 0), try totals.decode(Int.self, row: 0, column: 1)
        )
    }

    /// Forgets workers that stopped heartbeating long ago.
    static func removeStaleWorkers(olderThan age: Duration, on connection: PostgresConnection) throws {
        try connection.query(
            "DELETE FROM encours.workers WHERE last_heartbeat_at < now() - make_interval(secs => $1::double precision)",
            [seconds(age)])
    }

    /// True while a job this worker may take is available, is due within `horizon` (a scheduled
    /// job or a retry), or runs with a lapsed lease (it is about to be rescued).
    static func hasClaimableWork(
        tenantIDs: [Int64]?, excludedTenantIDs: [Int64]?, kinds: [String], horizon: Duration, on connection: PostgresConnection
    ) throws -> Bool {
        try connection.query(
            """
            SELECT EXISTS (
                SELECT 1 FROM encours.jobs
                WHERE state = 'available' AND kind = ANY ($3)
                  AND ($1::bigint[] IS NULL OR tenant_id = ANY ($1))
                  AND ($2::bigint[] IS NULL OR tenant_id <> ALL ($2))
            ) OR EXISTS (
                SELECT 1 FROM encours.jobs
                WHERE state IN ('scheduled', 'retryable') AND run_at <= now() + make_interval(secs => $4::double precision)
                  AND kind = ANY ($3)
                  AND ($1::bigint[] IS NULL OR tenant_id = ANY ($1))
                  AND ($2::bigint[] IS NULL OR tenant_id <> ALL ($2))
            ) OR EXISTS (
                SELECT 1 FROM encours.jobs
                WHERE state = 'running' AND lease_expires_at < now() AND kind = ANY ($3)
                  AND ($1::bigint[] IS NULL OR tenant_id = ANY ($1))
                  AND ($2::bigint[] IS NULL OR tenant_id <> ALL ($2))
            )
            """, [tenantIDs, excludedTenantIDs, kinds, seconds(horizon)]
        ).decode(Bool.self, row: 0, column: 0)
    }

    /// A round trip that proves the database answers (for `/healthz`).
    static func ping(on connection: PostgresConnection) throws {
        _ = try connection.query("SELECT 1")
    }
}
