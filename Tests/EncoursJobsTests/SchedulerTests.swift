import EncoursJobs
import EncoursPostgres
import EncoursQueue
import EncoursSchedule
import EncoursTenancy
import EncoursTestSupport
import Foundation
import Logging
import Testing

@Suite("tenant schedules evaluated by the workers")
struct SchedulerTests {
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// Sets a tenant's time zone and schedule settings.
    func configure(_ database: TestDatabase, _ tenantID: Int64, timezone: String, _ schedules: [String: String]) async throws {
        try await database.withConnection { connection in
            _ = try connection.query(
                "UPDATE encours.tenants SET timezone = $2, settings = settings || $3::jsonb WHERE id = $1",
                [tenantID, timezone, String(decoding: try JSONEncoder().encode(schedules), as: UTF8.self)])
        }
    }

    /// Each schedule's cursor, by "tenant schedule".
    func cursors(_ database: TestDatabase) async throws -> [String: Date] {
        try await database.withConnection { connection in
            Dictionary(uniqueKeysWithValues: try connection.query(
                "SELECT t.slug || ' ' || c.schedule, c.evaluated_through FROM encours.schedule_cursors c JOIN encours.tenants t ON t.id = c.tenant_id"
            ).rows.map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Date.self)) })
        }
    }

    /// One pass in its own transaction.
    func pass(_ database: TestDatabase, _ configuration: SchedulerConfiguration = SchedulerConfiguration()) async throws -> TenantScheduler.Pass {
        let logger = quiet
        return try await database.withConnection { connection in
            try connection.transaction { try TenantScheduler.pass(configuration: configuration, logger: logger, on: $0) }
        }
    }

    @Test("four workers' passes racing for an hour of missed instants enqueue each instant once, with one job per unique key")
    func racingPasses() async throws {
        try await TestDatabase.with { database in
            let paris = try await TestTenants.make(database, "paris")
            let york = try await TestTenants.make(database, "york")
            try await configure(database, paris, timezone: "Europe/Paris", ["dunning_schedule": "*/5 * * * *", "disputes_schedule": "0 * * * *"])
            try await configure(database, york, timezone: "America/New_York", ["disputes_schedule": "*/10 * * * *"])
            // The first pass starts every cursor now; then, as if no worker had run for an hour:
            let first = try await pass(database)
            #expect(first.started == 3 && first.enqueued.isEmpty)
            try await database.withConnection { connection in
                _ = try connection.query("UPDATE encours.schedule_cursors SET evaluated_through = evaluated_through - interval '1 hour'")
            }
            let rewound = try await cursors(database)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        let session = PostgresSession(connectionString: database.url, name: "scheduler-\(worker)")
                        for _ in 0..<10 {
                            _ = try await session.transaction { connection in
                                try TenantScheduler.pass(configuration: SchedulerConfiguration(), logger: quiet, on: connection)
                            }
                        }
                        await session.close()
                    }
                }
                try await group.waitForAll()
            }
            // Every instant between the rewound cursors and the last pass's, once: an hour holds 12
            // multiples of 5 minutes, 6 of 10 minutes and one hour (one more if the passes took
            // the clock past the next).
            let moved = try await cursors(database)
            func expected(_ key: String, _ expression: String, _ zone: String) throws -> Int {
                try CronSchedule(expression).instants(after: rewound[key]!, through: moved[key]!, in: TimeZone(identifier: zone)!).count
            }
            let counts = [
                try expected("paris disputes", "0 * * * *", "Europe/Paris"), try expected("paris dunning", "*/5 * * * *", "Europe/Paris"),
                try expected("york disputes", "*/10 * * * *", "America/New_York"),
            ]
            #expect((1...2).contains(counts[0]) && (12...13).contains(counts[1]) && (6...7).contains(counts[2]), "\(counts)")
            let runs = try await database.withConnection { connection in
                try connection.query(
                    "SELECT t.slug || ' ' || r.schedule, count(*) FROM encours.schedule_runs r JOIN encours.tenants t ON t.id = r.tenant_id GROUP BY 1 ORDER BY 1"
                ).rows.map { "\(try $0.decode(0, as: String.self)) \(try $0.decode(1, as: Int.self))" }
            }
            #expect(runs == ["paris disputes \(counts[0])", "paris dunning \(counts[1])", "york disputes \(counts[2])"])
            // One escalation per instant; one dunning run per local date the instants fall on.
            let instants = try await database.withConnection { connection in
                try connection.query("SELECT schedule, instant FROM encours.schedule_runs WHERE tenant_id = $1 AND schedule = 'dunning'", [paris])
                    .rows.map { try $0.decode(1, as: Date.self) }
            }
            let parisDates = Set(try instants.map { try ScheduledWork.dunning.job(tenantID: paris, instant: $0, timeZone: TimeZone(identifier: "Europe/Paris")!).uniqueKey })
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'dunning.run'") == parisDates.count)
            let escalations = counts[0] + counts[2]
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'disputes.escalate'") == escalations)
            #expect(try await database.integer("SELECT count(DISTINCT (tenant_id, unique_key)) FROM encours.jobs") == parisDates.count + escalations)
            // Each recorded job is one of the run's jobs, named once.
            #expect(try await database.integer(
                "SELECT count(*) FROM encours.schedule_runs r JOIN encours.jobs j ON j.id = r.job_id AND j.tenant_id = r.tenant_id") == parisDates.count + escalations)
            // An escalation's payload is its instant, in UTC.
            let payloads = try await database.withConnection { connection in
                try connection.query(
                    "SELECT j.payload->>'at', to_char(r.instant AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM encours.schedule_runs r JOIN encours.jobs j ON j.id = r.job_id WHERE r.schedule = 'disputes'"
                ).rows.map { (try $0.decode(0, as: String.self), try $0.decode(1, as: String.self)) }
            }
            #expect(payloads.count == escalations && payloads.allSatisfy { $0.0 == $0.1 })
            // Another pass finds nothing, and a quiet pass writes nothing: the cursors stay.
            #expect(try await pass(database).enqueued.isEmpty)
            #expect(try await cursors(database) == moved)
        }
    }

    @Test("a new schedule starts now, a restart picks up where the cursor stopped, catch-up is bounded, a removed schedule is forgotten")
    func cursors() async throws {
        try await TestDatabase.with { database in
            let acme = try await TestTenants.make(database, "acme")
            try await configure(database, acme, timezone: "UTC", ["risk_schedule": "*/5 * * * *"])
            func rewind(_ interval: String, _ schedule: String? = nil) async throws {
                try await database.withConnection { connection in
                    _ = try connection.query(
                        "UPDATE encours.schedule_cursors SET evaluated_through = now() - $1::interval WHERE $2::text IS NULL OR schedule = $2",
                        [interval, schedule])
                }
            }
            var outcome = try await pass(database)
            #expect(outcome.started == 1 && outcome.enqueued.isEmpty, "no backfill for a schedule seen for the first time")
            // Workers stopped for 30 minutes: the 6 instants they missed are enqueued by the first pass back, once.
            try await rewind("30 minutes")
            let stopped = try await cursors(database)["acme risk"]!
            outcome = try await pass(database)
            let resumed = try await cursors(database)["acme risk"]!
            // (t - 30 min, t] holds 6 multiples of 5 minutes (7 if the clock passed the next meanwhile).
            let missed = try CronSchedule("*/5 * * * *").instants(after: stopped, through: resumed, in: TimeZone(identifier: "UTC")!)
            #expect((6...7).contains(missed.count))
            #expect(outcome.enqueued.map(\.instant) == missed && outcome.skipped == 0)
            #expect(outcome.enqueued.allSatisfy { $0.work == .risk && $0.tenantID == acme })
            #expect(try await pass(database).enqueued.isEmpty)
            // Three days away: the latest 24 of the 864 instants (of a schedule with none recorded yet).
            try await configure(database, acme, timezone: "UTC", ["dunning_schedule": "*/5 * * * *"])
            #expect(try await pass(database).started == 1)
            try await rewind("3 days", "dunning")
            outcome = try await pass(database)
            #expect(outcome.enqueued.count == 24 && (864...865).contains(outcome.skipped + 24))
            let latest = outcome.enqueued.map(\.instant).max()!
            #expect(Date().timeIntervalSince(latest) < 5 * 60 + 5)
            // A daily schedule ten days away: the 7 days of the catch-up window, the 3 before skipped.
            try await configure(database, acme, timezone: "UTC", ["disputes_schedule": "0 7 * * *"])
            #expect(try await pass(database).started == 1)
            try await rewind("10 days", "disputes")
            outcome = try await pass(database)
            #expect(outcome.enqueued.count == 7 && outcome.skipped == 3)
            // Removed: the cursor goes, and setting it again starts afresh.
            try await database.withConnection { connection in
                _ = try connection.query(
                    "UPDATE encours.tenants SET settings = settings - 'risk_schedule' - 'dunning_schedule' - 'disputes_schedule' WHERE id = $1", [acme])
            }
            _ = try await pass(database)
            #expect(try await database.integer("SELECT count(*) FROM encours.schedule_cursors") == 0)
            // A pass that fails records nothing: its instants wait for the next pass.
            let beta = try await TestTenants.make(database, "beta")
            try await configure(database, beta, timezone: "UTC", ["risk_schedule": "* * * * *"])
            _ = try await pass(database)
            try await rewind("3 minutes")
            let before = try await database.integer("SELECT count(*) FROM encours.schedule_runs")
            await #expect(throws: (any Error).self) {
                try await database.withConnection { connection in
                    try connection.transaction { connection -> Void in
                        _ = try TenantScheduler.pass(configuration: SchedulerConfiguration(), logger: quiet, on: connection)
                        _ = try connection.query("SELECT 1 / 0")
                    }
                }
            }
            #expect(try await database.integer("SELECT count(*) FROM encours.schedule_runs") == before)
            #expect(try await pass(database).enqueued.count >= 3)
        }
    }

    @Test("the services describe themselves without their connection string (service-lifecycle logs them at debug)")
    func descriptionsHideThePassword() {
        let url = "postgresql://app:S3cret-pw@db.example/encours"
        for text in ["\(TenantScheduler(connectionString: url, logger: quiet))",
                     "\(ReceivablesGauges(connectionString: url, isLeader: { false }, logger: quiet))"] {
            #expect(!text.contains("S3cret-pw") && !text.contains("db.example"), "\(text)")
        }
    }

    @Test("a tenant's scope sees its own schedule rows only")
    func isolation() async throws {
        try await TestDatabase.with { database in
            let acme = try await TestTenants.make(database, "acme")
            let other = try await TestTenants.make(database, "other")
            try await configure(database, acme, timezone: "Europe/Paris", ["disputes_schedule": "* * * * *"])
            try await configure(database, other, timezone: "Europe/Paris", ["disputes_schedule": "* * * * *"])
            _ = try await pass(database)
            try await database.withConnection { connection in
                _ = try connection.query("UPDATE encours.schedule_cursors SET evaluated_through = now() - interval '2 minutes'")
            }
            #expect(try await pass(database).enqueued.count >= 4)
            let seen = try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: acme, commit: false, on: connection) { connection in
                    (try connection.query("SELECT count(DISTINCT tenant_id), count(*) FROM encours.schedule_runs").decode(Int.self, row: 0, column: 1),
                     try connection.query("SELECT count(*) FROM encours.schedule_cursors").decode(Int.self, row: 0, column: 0))
                }
            }
            #expect(seen.0 == 2 && seen.1 == 1)
        }
    }
}

@Suite("the receivables gauges")
struct ReceivablesGaugesTests {
    @Test("grades and breached disputes per tenant, each read in its own tenant's scope")
    func readings() async throws {
        try await TestDatabase.with { database in
            let acme = try await TestTenants.make(database, "acme")
            let beta = try await TestTenants.make(database, "beta")
            try await database.withConnection { connection in
                for (tenant, grades) in [(acme, ["A", "A", "D"]), (beta, ["E"])] {
                    for (index, grade) in grades.enumerated() {
                        _ = try connection.query(
                            "INSERT INTO encours.customers (tenant_id, customer_id, name) VALUES ($1, $2, 'Client')", [tenant, "C\(index)"])
                        _ = try connection.query(
                            """
                            INSERT INTO encours.customer_risk (tenant_id, customer_id, as_of, grade, over_credit_limit, strict_policy)
                            VALUES ($1, $2, '2026-12-01', $3, false, false)
                            """, [tenant, "C\(index)", grade])
                    }
                }
                _ = try connection.query(
                    """
                    INSERT INTO encours.invoices (tenant_id, invoice_id, customer_id, issue_date, due_date, amount_cents, currency)
                    VALUES ($1, 'F1', 'C0', '2026-09-01', '2026-10-01', 10000, 'EUR'), ($1, 'F2', 'C0', '2026-09-01', '2026-10-01', 10000, 'EUR')
                    """, [acme])
                _ = try connection.query(
                    """
                    INSERT INTO encours.disputes (tenant_id, dispute_id, invoice_id, reason, opened_on, status, tier, breached)
                    VALUES ($1, 'D1', 'F1', 'quality', '2026-10-02', 'escalated', 3, true),
                           ($1, 'D2', 'F2', 'quality', '2026-10-02', 'escalated', 2, false)
                    """, [acme])
            }
            let readings = try await database.withConnection { try ReceivablesGauges.read(on: $0) }
            #expect(readings.grades.map { "\($0.0) \($0.1) \($0.2)" } == ["acme A 2", "acme D 1", "beta E 1"])
            #expect(readings.breached.map { "\($0.0) \($0.1)" } == ["acme 1", "beta 0"])
        }
    }
}
