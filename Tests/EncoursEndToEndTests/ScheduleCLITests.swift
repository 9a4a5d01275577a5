import EncoursPostgres
import EncoursSchedule
import EncoursTestSupport
import Foundation
import Testing

@Suite("tenant schedules with several worker processes")
struct ScheduleCLITests {
    @Test("three workers, stopped for ten minutes and started again: each missed instant is enqueued and run once; bad cron refused")
    func threeWorkers() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            func encours(_ arguments: [String]) async throws -> Binaries.Result {
                try await Binaries.run("encours", arguments, environment: environment)
            }
            let refused = try await encours(["tenant", "set", "acme", "disputes_schedule", "61 * * * *"])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("minute \"61\": 61 is outside 0-59"), "\(refused.stderr)")
            #expect(try await encours(["tenant", "set", "acme", "timezone", "Europe/Paris"]).status == 0)
            #expect(try await encours(["tenant", "set", "acme", "disputes_schedule", "* * * * *"]).status == 0)
            /// Three workers, once each has registered (its signal handlers are in place by then).
            func workers() async throws -> [RunningProcess] {
                let registered = try await database.integer("SELECT count(*) FROM encours.workers")
                let started = try (0..<3).map { _ in
                    try Binaries.start("encours-worker", ["--schedule-interval-seconds", "0.2", "--concurrency", "2"], environment: environment)
                }
                let up = try await database.waitUntil(timeout: .seconds(30)) { connection in
                    try connection.query("SELECT count(*) FROM encours.workers").decode(Int.self, row: 0, column: 0) >= registered + 3
                }
                #expect(up)
                return started
            }
            func cursor() async throws -> Date? {
                try await database.withConnection { connection in
                    try connection.query("SELECT evaluated_through FROM encours.schedule_cursors").rows.first.map { try $0.decode(0, as: Date.self) }
                }
            }
            var running = try await workers()
            let started = try await database.waitUntil(timeout: .seconds(30)) { connection in
                try connection.query("SELECT count(*) FROM encours.schedule_cursors").decode(Int.self, row: 0, column: 0) == 1
            }
            #expect(started)
            for worker in running { worker.signal(SIGTERM) }
            for worker in running {
                let result = await worker.finish()
                #expect(result.status == 0, "\(result.stderr)")
            }
            // Down for ten minutes, as far as the schedule can tell.
            try await database.withConnection { connection in
                _ = try connection.query("UPDATE encours.schedule_cursors SET evaluated_through = evaluated_through - interval '10 minutes'")
            }
            let stopped = try #require(try await cursor())
            running = try await workers()
            let caughtUp = try await database.waitUntil(timeout: .seconds(30)) { connection in
                try connection.query(
                    "SELECT count(*) FROM encours.jobs WHERE kind = 'disputes.escalate' AND state = 'completed'").decode(Int.self, row: 0, column: 0) >= 10
            }
            #expect(caughtUp)
            for worker in running { worker.signal(SIGTERM) }
            for worker in running {
                let result = await worker.finish()
                #expect(result.status == 0, "\(result.stderr)")
            }
            let stoppedAgain = try #require(try await cursor())
            let expected = try CronSchedule("* * * * *").instants(after: stopped, through: stoppedAgain, in: TimeZone(identifier: "Europe/Paris")!)
            #expect(expected.count >= 10)
            let recorded = try await database.withConnection { connection in
                try connection.query("SELECT instant FROM encours.schedule_runs ORDER BY instant").rows.map { try $0.decode(0, as: Date.self) }
            }
            #expect(recorded == expected)
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'disputes.escalate'") == expected.count)
            #expect(try await database.integer("SELECT count(DISTINCT unique_key) FROM encours.jobs WHERE kind = 'disputes.escalate'") == expected.count)
            #expect(try await database.integer(
                "SELECT count(*) FROM encours.jobs WHERE kind = 'disputes.escalate' AND state <> 'completed'") == 0)
            // `none` removes the schedule; `tenant show` no longer has it.
            #expect(try await encours(["tenant", "set", "acme", "disputes_schedule", "none"]).status == 0)
            let shown = try await encours(["tenant", "show", "acme", "--json"])
            #expect(shown.status == 0 && !shown.stdout.contains("* * * * *"), "\(shown.stdout)")
            // Each of the three settings is stored as given, and removed by none.
            for key in ["dunning_schedule", "risk_schedule", "disputes_schedule"] {
                #expect(try await encours(["tenant", "set", "acme", key, "0 7 * * 1-5"]).status == 0)
                let stored = try await database.withConnection { connection in
                    try connection.query("SELECT settings->>$1 FROM encours.tenants WHERE slug = 'acme'", [key]).decode(String?.self, row: 0, column: 0)
                }
                #expect(stored == "0 7 * * 1-5", "\(key)")
                #expect(try await encours(["tenant", "set", "acme", key, "off"]).status == 0)
                let removed = try await database.withConnection { connection in
                    try connection.query("SELECT settings ? $1 FROM encours.tenants WHERE slug = 'acme'", [key]).decode(Bool.self, row: 0, column: 0)
                }
                #expect(!removed, "\(key)")
            }
        }
    }
}
