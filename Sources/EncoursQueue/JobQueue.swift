import EncoursPostgres
import Foundation

/// Inserting and managing jobs with plain SQL on a connection the caller owns, so enqueueing can
/// share a transaction with the caller's own writes (transactional enqueue).
public enum JobQueue {
    /// What an enqueue did.
    public struct EnqueueResult: Sendable, Hashable {
        /// Ids of the jobs inserted, in no particular order.
        public var insertedIDs: [Int64]
        /// Jobs not inserted because an unfinished job already had their unique key.
        public var skippedAsDuplicate: Int
    }

    /// Inserts jobs in a single statement (arrays unnested server-side).
    ///
    /// Jobs whose unique key matches an unfinished job of the same tenant and kind are skipped.
    /// Listening workers are woken when the transaction commits.
    public static func enqueue(_ jobs: [NewJob], on connection: PostgresConnection) throws -> EnqueueResult {
        guard !jobs.isEmpty else { return EnqueueResult(insertedIDs: [], skippedAsDuplicate: 0) }
        for job in jobs { try job.validate() }
        let result = try connection.query(
            """
            INSERT INTO encours.jobs (tenant_id, kind, payload, priority, run_at, max_attempts, unique_key, state)
            SELECT d.tenant_id, d.kind, d.payload, d.priority, coalesce(d.run_at, now()), d.max_attempts, d.unique_key,
                   CASE WHEN d.run_at > now() THEN 'scheduled' ELSE 'available' END::encours.job_state
            FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::smallint[], $5::timestamptz[], $6::integer[], $7::text[])
                AS d (tenant_id, kind, payload, priority, run_at, max_attempts, unique_key)
            ON CONFLICT (tenant_id, kind, unique_key)
                WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable')
                DO NOTHING
            RETURNING id
            """,
            [
                jobs.map(\.tenantID), jobs.map(\.kind), jobs.map(\.payload), jobs.map(\.priority),
                jobs.map(\.runAt), jobs.map(\.maxAttempts), jobs.map(\.uniqueKey),
            ])
        let ids = try result.rows.map { try $0.decode(0, as: Int64.self) }
        return EnqueueResult(insertedIDs: ids, skippedAsDuplicate: jobs.count - ids.count)
    }

    /// Inserts many jobs fast with `COPY` (no unique keys, no ids returned); returns how many.
    ///
    /// For bulk loads and benchmarks: about twice as fast as ``enqueue(_:on:)`` on large batches.
    /// A job with `runAt` set starts `scheduled` and becomes available when due. Payloads must be
    /// JSON objects (PostgreSQL checks it; one bad payload fails the whole batch).
    public static func bulkEnqueue(_ jobs: [NewJob], on connection: PostgresConnection) throws -> Int {
        guard !jobs.isEmpty else { return 0 }
        for job in jobs {
            guard job.uniqueKey == nil else {
                throw QueueError(.invalidInput, "bulk enqueue takes no unique keys; use enqueue for job \(job.kind) with key \(job.uniqueKey ?? "")")
            }
            // Full validation parses every payload; the cheap checks pick the jobs that need it.
            if !(1...4).contains(job.priority) || !(1...NewJob.maximumAttempts).contains(job.maxAttempts) || job.kind.isEmpty
                || job.payload.utf8.count > JobPayload.maximumBytes
            {
                try job.validate()
            }
        }
        // COPY applies no column default to an explicit NULL, so jobs to run now (run_at defaults
        // to now()) and scheduled jobs go through two column lists.
        func line(_ job: NewJob, runAt: Date?) -> String {
            var line = "\(job.tenantID)\t\(PostgresConnection.copyEscape(job.kind))\t\(PostgresConnection.copyEscape(job.payload))\t\(job.priority)\t"
            if let runAt { line += PostgresTimestamp.format(runAt) + "\t" }
            line += "\(job.maxAttempts)\t\(runAt == nil ? "available" : "scheduled")\n"
            return line
        }
        var copied = 0
        let immediate = jobs.filter { $0.runAt == nil }
        if !immediate.isEmpty {
            copied += try connection.copyIn(
                "COPY encours.jobs (tenant_id, kind, payload, priority, max_attempts, state) FROM STDIN",
                chunks: immediate.lazy.map { line($0, runAt: nil) })
        }
        let scheduled = jobs.filter { $0.runAt != nil }
        if !scheduled.isEmpty {
            copied += try connection.copyIn(
                "COPY encours.jobs (tenant_id, kind, payload, priority, run_at, max_attempts, state) FROM STDIN",
                chunks: scheduled.lazy.map { line($0, runAt: $0.runAt) })
        }
        return copied
    }

    /// The most copies ``enqueueCopies(of:count:on:)`` inserts in one call.
    public static let maximumCopies = 1_000_000

    /// Inserts `count` identical copies of `job` in one statement (load tests, benchmarks).
    /// A job with a unique key is inserted at most once. `count` may be at most ``maximumCopies``.
    public static func enqueueCopies(of job: NewJob, count: Int, on connection: PostgresConnection) throws -> Int {
        guard count > 0 else { return 0 }
        guard count <= maximumCopies else {
            throw QueueError(.invalidInput, "count \(count) is too large: at most \(maximumCopies) jobs per call")
        }
        try job.validate()
        let result = try connection.query(
            """
            INSERT INTO encours.jobs (tenant_id, kind, payload, priority, run_at, max_attempts, unique_key, state)
            SELECT $1, $2, $3::jsonb, $4, coalesce($5::timestamptz, now()), $6, $7,
                   CASE WHEN $5::timestamptz > now() THEN 'scheduled' ELSE 'available' END::encours.job_state
            FROM generate_series(1, $8::integer)
            ON CONFLICT (tenant_id, kind, unique_key)
                WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable')
                DO NOTHING
            """,
            [job.tenantID, job.kind, job.payload, job.priority, job.runAt, job.maxAttempts, job.uniqueKey, count])
        return result.affectedRows
    }

    /// Reads one job; nil when there is none with that id.
    public static func job(id: Int64, on connection: PostgresConnection) throws -> Job? {
        try connection.query(
            """
            SELECT \(Job.columns) FROM encours.jobs WHERE id = $1
            """, [id]
        ).rows.first.map(Job.init(row:))
    }

    /// Filters for ``list(_:on:)``.
    public struct ListFilter: Sendable {
        public var state: JobState?
        public var kind: String?
        public var tenantID: Int64?
        public var limit: Int
        public init(state: JobState? = nil, kind: String? = nil, tenantID: Int64? = nil, limit: Int = 50) {
            self.state = state
            self.kind = kind
            self.tenantID = tenantID
            self.limit = limit
        }
    }

    /// Lists jobs, newest first.
    public static func list(_ filter: ListFilter, on connection: PostgresConnection) throws -> [Job] {
        try Job.decodeAll(connection.query(
            """
            SELECT \(Job.columns) FROM encours.jobs
            WHERE ($1::encours.job_state IS NULL OR state = $1::encours.job_state)
              AND ($2::text IS NULL OR kind = $2) AND ($3::bigint IS NULL OR tenant_id = $3)
            ORDER BY id DESC LIMIT $4
            """,
            [filter.state, filter.kind, filter.tenantID, filter.limit]))
    }

    /// Makes a retryable, discarded, cancelled or completed job available again now.
    ///
    /// It gets a full set of `max_attempts` again, but its attempt number carries on (the
    /// attempts made so far become uncounted), so the error history stays readable and no
    /// result of an earlier attempt can ever be recorded over the new ones.
    public static func retry(id: Int64, on connection: PostgresConnection) throws -> Job {
        guard let current = try job(id: id, on: connection) else { throw QueueError(.notFound, "no job with id \(id)") }
        guard current.state != .running else {
            throw QueueError(.invalidState, "job \(id) is running; cancel it first or wait for it to finish")
        }
        guard current.state != .available else { return current }
        do {
            let row = try connection.query(
                """
                UPDATE encours.jobs SET state = 'available', run_at = now(), uncounted_attempts = attempt, finalized_at = NULL,
                    cancel_requested = false, worker_id = NULL, lease_expires_at = NULL
                WHERE id = $1 AND state <> 'running'
                RETURNING \(Job.columns)
                """, [id]).rows.first
            guard let row else { throw QueueError(.invalidState, "job \(id) started running meanwhile") }
            try connection.query("SELECT pg_notify('encours_jobs', '')")
            return try Job(row: row)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw QueueError(.invalidState, "job \(id) cannot be retried: another unfinished \(current.kind) job has unique key \(current.uniqueKey ?? "")")
        }
    }

    /// Cancels a job: at once when it is waiting; when it is running, its worker is told
    /// (by notification and at its next heartbeat), cancels the handler and records `cancelled`.
    public static func cancel(id: Int64, on connection: PostgresConnection) throws -> Job {
        let row = try connection.query(
            """
            UPDATE encours.jobs SET
                state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                finalized_at = CASE WHEN state = 'running' THEN finalized_at ELSE now() END,
                cancel_requested = (state = 'running')
            WHERE id = $1 AND state IN ('available', 'scheduled', 'retryable', 'running')
            RETURNING \(Job.columns)
            """, [id]).rows.first
        guard let row else {
            guard let current = try job(id: id, on: connection) else {
                throw QueueError(.notFound, "no job with id \(id)")
            }
            throw QueueError(.invalidState, "job \(id) is already \(current.state.rawValue)")
        }
        let job = try Job(row: row)
        if job.state == .running {
            try connection.query("SELECT pg_notify('encours_control', $1)", ["cancel:\(id)"])
        }
        return job
    }
}
