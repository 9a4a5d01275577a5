import EncoursPostgres
import Foundation

/// The SQL a worker runs, one function per statement, on a connection the caller provides.
enum WorkerStatements {
    /// Seconds as text for `make_interval(secs => ...)`.
    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", duration.inSeconds)
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

    static func claim(
        workerID: String, limit: Int, lease: Duration, cursor: Int64, tenantIDs: [Int64]?, excludedTenantIDs: [Int64]?,
        kinds: [String], on connection: PostgresConnection
    ) throws -> [Job] {
        try Job.decodeAll(connection.query(
            """
            SELECT \(Job.columns) FROM encours.claim_jobs($1, $2, make_interval(secs => $3::double precision), $4, $5, $6, $7)
            """,
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

    /// Writes many attempts' ends: successes in one lean statement, any other ends in a second
    /// one; a job rescued meanwhile (its attempt moved on) is left alone. Returns how many jobs
    /// became available again (to wake workers).
    static func record(_ records: [Record], on connection: PostgresConnection) throws -> Int {
        var successes: [Record] = []
        var others: [Record] = []
        for record in records {
            if record.isSuccess { successes.append(record) } else { others.append(record) }
        }
        if !successes.isEmpty { try recordCompleted(successes, on: connection) }
        return others.isEmpty ? 0 : try recordOther(others, on: connection)
    }

    /// The common case, in a lean statement: successful attempts (ids and attempt numbers only).
    private static func recordCompleted(_ records: [Record], on connection: PostgresConnection) throws {
        try connection.query(
            """
            UPDATE encours.jobs j SET state = 'completed', finalized_at = now(), worker_id = NULL, lease_expires_at = NULL
            FROM unnest($1::bigint[], $2::integer[]) AS d (id, attempt)
            WHERE j.id = d.id AND j.attempt = d.attempt AND j.state = 'running'
            """,
            [records.map(\.jobID), records.map(\.attempt)])
    }

    /// Failures, retries, cancellations and releases: every field of the resolution.
    private static func recordOther(_ records: [Record], on connection: PostgresConnection) throws -> Int {
        let result = try connection.query(
            """
            WITH done AS (
                UPDATE encours.jobs j SET
                    state = d.state::encours.job_state,
                    finalized_at = CASE WHEN d.state IN ('completed', 'discarded', 'cancelled') THEN now() END,
                    run_at = CASE WHEN d.delay_seconds IS NULL THEN j.run_at
                                  ELSE now() + make_interval(secs => d.delay_seconds) END,
                    attempt = CASE WHEN d.uncount THEN j.attempt - 1 ELSE j.attempt END,
                    errors = CASE WHEN d.error IS NULL THEN j.errors
                                  ELSE j.errors || jsonb_build_array(jsonb_build_object(
                                      'attempt', j.attempt, 'at', now(), 'error', d.error)) END,
                    worker_id = NULL,
                    lease_expires_at = NULL
                FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::double precision[], $5::text[], $6::boolean[])
                    AS d (id, attempt, state, delay_seconds, error, uncount)
                WHERE j.id = d.id AND j.attempt = d.attempt AND j.state = 'running'
                RETURNING j.state
            )
            SELECT count(*) FILTER (WHERE state = 'available') FROM done
            """,
            [
                records.map(\.jobID), records.map(\.attempt), records.map(\.resolution.state.rawValue),
                records.map { $0.resolution.retryDelay.map(seconds) }, records.map(\.resolution.error),
                records.map(\.resolution.uncountsAttempt),
            ])
        return try result.decode(Int.self, row: 0, column: 0)
    }

    /// Extends the leases of this worker's running jobs and its registry heartbeat.
    /// Returns, of the jobs still leased to it, whether each has a cancel request.
    static func heartbeat(
        workerID: String, jobIDs: [Int64], lease: Duration, on connection: PostgresConnection
    ) throws -> [Int64: Bool] {
        try connection.query(
            """
            INSERT INTO encours.workers (id, host, pid, concurrency) VALUES ($1, $2, $3, 0)
            ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now()
            """,
            [workerID, ProcessInfo.processInfo.hostName, Int(ProcessInfo.processInfo.processIdentifier)])
        guard !jobIDs.isEmpty else { return [:] }
        let rows = try connection.query(
            """
            UPDATE encours.jobs SET lease_expires_at = now() + make_interval(secs => $3::double precision)
            WHERE id = ANY ($1::bigint[]) AND worker_id = $2 AND state = 'running'
            RETURNING id, cancel_requested
            """,
            [jobIDs, workerID, seconds(lease)]
        ).rows
        var leased: [Int64: Bool] = [:]
        for row in rows { leased[try row.decode(0, as: Int64.self)] = try row.decode(1, as: Bool.self) }
        return leased
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

    /// Takes back jobs whose lease lapsed (their worker died or hung): retried at once if
    /// attempts remain, else discarded; cancelled if a cancel was requested. Returns how many.
    static func rescueExpired(limit: Int, on connection: PostgresConnection) throws -> Int {
        try connection.query(
            """
            WITH lost AS (
                SELECT id FROM encours.jobs
                WHERE state = 'running' AND lease_expires_at < now()
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE encours.jobs j SET
                state = CASE WHEN j.cancel_requested THEN 'cancelled'
                             WHEN j.attempt >= j.max_attempts THEN 'discarded'
                             ELSE 'available' END::encours.job_state,
                finalized_at = CASE WHEN j.cancel_requested OR j.attempt >= j.max_attempts THEN now() END,
                run_at = now(),
                errors = j.errors || jsonb_build_array(jsonb_build_object(
                    'attempt', j.attempt, 'at', now(),
                    'error', 'lease expired: worker ' || coalesce(j.worker_id, '?') || ' stopped heartbeating')),
                worker_id = NULL,
                lease_expires_at = NULL
            FROM lost WHERE j.id = lost.id
            """, [limit]
        ).affectedRows
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

    /// Forgets workers that stopped heartbeating long ago.
    static func removeStaleWorkers(olderThan age: Duration, on connection: PostgresConnection) throws {
        try connection.query(
            "DELETE FROM encours.workers WHERE last_heartbeat_at < now() - make_interval(secs => $1::double precision)",
            [seconds(age)])
    }

    /// True while a job this worker may take is available (or due to become so).
    static func hasClaimableWork(
        tenantIDs: [Int64]?, excludedTenantIDs: [Int64]?, kinds: [String], on connection: PostgresConnection
    ) throws -> Bool {
        try connection.query(
            """
            SELECT EXISTS (
                SELECT 1 FROM encours.jobs
                WHERE state = 'available'
                  AND ($1::bigint[] IS NULL OR tenant_id = ANY ($1))
                  AND ($2::bigint[] IS NULL OR tenant_id <> ALL ($2))
                  AND kind = ANY ($3)
            ) OR EXISTS (
                SELECT 1 FROM encours.jobs
                WHERE state IN ('scheduled', 'retryable') AND run_at <= now()
                  AND ($1::bigint[] IS NULL OR tenant_id = ANY ($1))
                  AND ($2::bigint[] IS NULL OR tenant_id <> ALL ($2))
                  AND kind = ANY ($3)
            )
            """, [tenantIDs, excludedTenantIDs, kinds]
        ).decode(Bool.self, row: 0, column: 0)
    }
}
