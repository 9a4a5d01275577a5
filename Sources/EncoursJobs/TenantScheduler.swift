import EncoursLedger
import EncoursPostgres
import EncoursQueue
import EncoursSchedule
import Foundation
import Logging
import ServiceLifecycle

/// Work a tenant schedules with a cron setting, and the job each instant enqueues.
public enum ScheduledWork: String, CaseIterable, Sendable {
    /// `dunning_schedule`: a `dunning.run` at the instant's date in the tenant's time zone.
    case dunning
    /// `risk_schedule`: a `risk.recalc` of every customer at the instant's local date.
    case risk
    /// `disputes_schedule`: a `disputes.escalate` at the instant.
    case disputes

    /// The tenant setting holding the cron expression.
    public var settingKey: String { "\(rawValue)_schedule" }

    /// The job `instant` enqueues for a tenant in `timeZone`, with the unique key the CLI uses
    /// for the same work (a run asked for by hand and a scheduled one never both wait).
    public func job(tenantID: Int64, instant: Date, timeZone: TimeZone) throws -> NewJob {
        switch self {
        case .dunning: DunningRunHandler.job(tenantID: tenantID, asOf: try CronSchedule.localDate(of: instant, in: timeZone))
        case .risk: try RiskRecalcHandler.job(tenantID: tenantID, asOf: try CronSchedule.localDate(of: instant, in: timeZone), customerID: nil)
        case .disputes: DisputesEscalateHandler.job(tenantID: tenantID, at: Self.utcText(instant))
        }
    }

    /// `2026-12-04T06:00:00Z`.
    static func utcText(_ instant: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: instant)
    }
}

/// How the workers evaluate tenants' schedules.
public struct SchedulerConfiguration: Sendable {
    /// How often a worker looks for instants that came (default 5 s): an instant is enqueued
    /// within about this long, by whichever worker's pass comes first.
    public var interval: Duration
    /// How far back a pass catches up instants missed while no worker ran (default 7 days).
    public var catchUpWindow: Duration
    /// The most instants of one schedule a pass enqueues, the latest ones (default 24); the
    /// older ones are logged as skipped.
    public var maximumCatchUp: Int

    public init(interval: Duration = .seconds(5), catchUpWindow: Duration = .seconds(7 * 86_400), maximumCatchUp: Int = 24) {
        self.interval = interval
        self.catchUpWindow = catchUpWindow
        self.maximumCatchUp = maximumCatchUp
    }
}

/// Evaluates every tenant's `dunning_schedule`, `risk_schedule` and `disputes_schedule` and
/// enqueues the job of each instant exactly once, however many workers run it.
///
/// Each pass is one transaction under an advisory lock (a pass already running elsewhere means
/// this worker skips its turn): it reads each schedule's cursor, enqueues the instants after it
/// up to the database's `now()`, records each instant in `schedule_runs` (its primary key) with
/// its job, and moves the cursor. A worker that dies mid-pass records nothing; the next pass
/// does the work. A schedule seen for the first time starts now; a removed one forgets its
/// cursor. Instants are computed in the tenant's time zone with the daylight-saving rules of
/// ``CronSchedule``.
public struct TenantScheduler: Service, CustomStringConvertible {
    let connectionString: String
    let configuration: SchedulerConfiguration
    let logger: Logger

    public init(connectionString: String, configuration: SchedulerConfiguration = SchedulerConfiguration(), logger: Logger) {
        self.connectionString = connectionString
        self.configuration = configuration
        self.logger = logger
    }

    /// What service-lifecycle logs for this service: never the connection string (it may hold a password).
    public var description: String { "TenantScheduler(every \(configuration.interval))" }

    public func run() async throws {
        let session = PostgresSession(connectionString: connectionString, name: "encours-scheduler")
        let (configuration, logger) = (self.configuration, self.logger)
        // Stops at the start of a graceful shutdown: nothing new is enqueued while jobs drain.
        await cancelWhenGracefulShutdown {
            var failing = false
            // The first pass waits one interval: a worker started on an unmigrated database has
            // stopped by then with its one-line message, without a scheduler error before it.
            try? await Task.sleep(for: configuration.interval)
            while !Task.isCancelled {
                do {
                    let pass = try await session.transaction { try Self.pass(configuration: configuration, logger: logger, on: $0) }
                    if failing { logger.notice("schedules are evaluated again") }
                    failing = false
                    for run in pass.enqueued {
                        logger.info(
                            "scheduled job enqueued",
                            metadata: [
                                "tenant.id": "\(run.tenantID)", "schedule": "\(run.work.rawValue)",
                                "schedule.instant": "\(ScheduledWork.utcText(run.instant))",
                                "job.id": "\(run.jobID.map(String.init) ?? "already queued")",
                            ])
                    }
                } catch is CancellationError {
                    break
                } catch {
                    if !failing { logger.error("schedules could not be evaluated", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                try? await Task.sleep(for: configuration.interval)
            }
        }
        await session.close()
    }

    /// An instant a pass enqueued.
    public struct ScheduledRun: Sendable, Equatable {
        public var tenantID: Int64
        public var work: ScheduledWork
        public var instant: Date
        /// The job; nil when an unfinished job with the same unique key stood for it already.
        public var jobID: Int64?
    }

    /// What one pass did.
    public struct Pass: Sendable {
        /// False when another pass held the lock (this one did nothing).
        public var ran = false
        public var enqueued: [ScheduledRun] = []
        /// Schedules seen for the first time (their cursor starts at the pass's time).
        public var started = 0
        /// Instants older than the catch-up window or past ``SchedulerConfiguration/maximumCatchUp``.
        public var skipped = 0
    }

    /// Runs one pass on `connection`, which must be inside a transaction (the advisory lock and
    /// every write end with it).
    @available(*, noasync)
    public static func pass(configuration: SchedulerConfiguration, logger: Logger, on connection: PostgresConnection) throws -> Pass {
        var pass = Pass()
        let locked = try connection.query("SELECT pg_try_advisory_xact_lock(hashtext('encours.schedules'))").decode(Bool.self, row: 0, column: 0)
        guard locked else { return pass }
        pass.ran = true
        // The database's clock, read once the lock is held, so every worker agrees on what has come.
        let now: Date = try connection.query("SELECT clock_timestamp()").decode(Date.self, row: 0, column: 0)
        let keys = ScheduledWork.allCases.map(\.settingKey)
        let tenants = try connection.query(
            """
            SELECT t.id, t.timezone, s.key, s.value, c.evaluated_through
            FROM encours.tenants t
            CROSS JOIN LATERAL jsonb_each_text(t.settings) AS s (key, value)
            LEFT JOIN encours.schedule_cursors c ON c.tenant_id = t.id AND c.schedule || '_schedule' = s.key
            WHERE s.key = ANY ($1::text[]) AND btrim(s.value) <> ''
            ORDER BY t.id, s.key
            """, [keys])
        // The schedules still set (the others forget their cursors), and the cursors to move: a
        // schedule's first pass, or one that had instants. A schedule with none since its cursor
        // keeps it (nothing lies between it and now), so a quiet pass writes no row.
        var setTenants: [Int64] = []
        var setSchedules: [String] = []
        var cursorTenants: [Int64] = []
        var cursorSchedules: [String] = []
        var cursorExpressions: [String] = []
        for row in tenants.rows {
            let tenantID: Int64 = try row.decode(0)
            let zoneName: String = try row.decode(1)
            let key: String = try row.decode(2)
            let expression: String = try row.decode(3)
            let cursor: Date? = try row.decode(4)
            guard let work = ScheduledWork.allCases.first(where: { $0.settingKey == key }) else { continue }
            let schedule: CronSchedule
            do { schedule = try CronSchedule(expression) } catch {
                logger.error("tenant schedule cannot be read; skipped", metadata: ["tenant.id": "\(tenantID)", "schedule": "\(key)", "error": "\(error.message)"])
                continue
            }
            guard let zone = TimeZone(identifier: zoneName) else {
                logger.error("tenant time zone unknown; schedule skipped", metadata: ["tenant.id": "\(tenantID)", "timezone": "\(zoneName)"])
                continue
            }
            setTenants.append(tenantID)
            setSchedules.append(work.rawValue)
            func moveCursor() {
                cursorTenants.append(tenantID)
                cursorSchedules.append(work.rawValue)
                cursorExpressions.append(schedule.expression)
            }
            guard let cursor else {
                pass.started += 1
                moveCursor()
                continue
            }
            // Instants after the cursor up to now, within the catch-up window, the latest few.
            let windowStart = max(cursor, now.addingTimeInterval(-configuration.catchUpWindow.inSeconds))
            var instants = schedule.instants(after: windowStart, through: now, in: zone)
            var skipped = windowStart > cursor ? schedule.instants(after: cursor, through: windowStart, in: zone).count : 0
            if instants.count > configuration.maximumCatchUp {
                skipped += instants.count - configuration.maximumCatchUp
                instants.removeFirst(instants.count - configuration.maximumCatchUp)
            }
            pass.skipped += skipped
            if instants.isEmpty && skipped == 0 { continue }
            moveCursor()
            if skipped > 0 || instants.count > 1 {
                logger.warning(
                    "schedule instants missed while no worker ran: the latest are enqueued",
                    metadata: ["tenant.id": "\(tenantID)", "schedule": "\(key)", "enqueued": "\(instants.count)", "skipped": "\(skipped)"])
            }
            for instant in instants {
                let fresh = try connection.query(
                    """
                    INSERT INTO encours.schedule_runs (tenant_id, schedule, instant) VALUES ($1, $2, $3::timestamptz)
                    ON CONFLICT DO NOTHING
                    """, [tenantID, work.rawValue, instant]
                ).affectedRows == 1
                guard fresh else { continue }
                let job = try work.job(tenantID: tenantID, instant: instant, timeZone: zone)
                let jobID = try JobQueue.enqueue([job], on: connection).insertedIDs.first
                if let jobID {
                    try connection.query(
                        "UPDATE encours.schedule_runs SET job_id = $4 WHERE tenant_id = $1 AND schedule = $2 AND instant = $3::timestamptz",
                        [tenantID, work.rawValue, instant, jobID])
                }
                pass.enqueued.append(ScheduledRun(tenantID: tenantID, work: work, instant: instant, jobID: jobID))
            }
        }
        // The cursors moved are evaluated through the pass's time; the schedules no longer set forget theirs.
        if !cursorTenants.isEmpty {
            try connection.query(
                """
                INSERT INTO encours.schedule_cursors (tenant_id, schedule, expression, evaluated_through)
                SELECT u.tenant_id, u.schedule, u.expression, $4::timestamptz
                FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u (tenant_id, schedule, expression)
                ON CONFLICT (tenant_id, schedule) DO UPDATE
                SET expression = EXCLUDED.expression,
                    evaluated_through = greatest(encours.schedule_cursors.evaluated_through, EXCLUDED.evaluated_through)
                """, [cursorTenants, cursorSchedules, cursorExpressions, now])
        }
        try connection.query(
            """
            DELETE FROM encours.schedule_cursors c
            WHERE NOT EXISTS (SELECT 1 FROM unnest($1::bigint[], $2::text[]) AS u (tenant_id, schedule)
                              WHERE u.tenant_id = c.tenant_id AND u.schedule = c.schedule)
            """, [setTenants, setSchedules])
        return pass
    }
}
