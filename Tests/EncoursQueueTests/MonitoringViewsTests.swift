import EncoursPostgres
import EncoursTestSupport
import Foundation
import Testing

@testable import EncoursQueue

@Suite("monitoring views and the leader's gauge readings")
struct MonitoringViewsTests {
    @Test("queue_depth, oldest_due_jobs, lapsed_leases and worker_status say what the queue holds; the gauges read the same")
    func views() async throws {
        try await TestDatabase.with { database in
            let acme = try await makeTenant(database, "acme")
            let beta = try await makeTenant(database, "beta")
            try await enqueueCopies(database, NewJob(tenantID: acme, kind: "noop"), count: 4)
            try await enqueueCopies(database, NewJob(tenantID: beta, kind: "dunning.run"), count: 2)
            try await enqueueCopies(database, NewJob(tenantID: acme, kind: "noop", runAt: Date().addingTimeInterval(3600)), count: 3)
            try await database.withConnection { connection in
                // Due for 10 minutes; one of acme's running under a lease that lapsed 30 s ago.
                try connection.execute("UPDATE encours.jobs SET run_at = now() - interval '10 minutes' WHERE state = 'available'")
                try connection.execute("INSERT INTO encours.workers (id, host, pid, concurrency) VALUES ('w1', 'h', 1, 4)")
                try connection.execute(
                    """
                    UPDATE encours.jobs SET state = 'running', worker_id = 'w1', attempt = 1, attempted_at = now() - interval '2 minutes',
                                            lease_expires_at = now() - interval '30 seconds'
                    WHERE id = (SELECT min(id) FROM encours.jobs WHERE tenant_id = \(acme) AND state = 'available')
                    """)
            }
            let depth = try await database.withConnection { connection in
                try connection.query("SELECT state, kind, tenant, jobs, oldest_age_seconds FROM encours.queue_depth ORDER BY 1, 2, 3").rows.map {
                    "\(try $0.decode(0, as: String.self)) \(try $0.decode(1, as: String.self)) \(try $0.decode(2, as: String.self)) \(try $0.decode(3, as: Int.self)) \(Int(try $0.decode(4, as: Double.self) / 60))"
                }
            }
            // Ages in whole minutes: waiting since run_at (10 min), running since the claim (2 min), scheduled in the future (0).
            #expect(depth == ["available dunning.run beta 2 10", "available noop acme 3 10", "running noop acme 1 2", "scheduled noop acme 3 0"])
            let due = try await database.withConnection { connection in
                try connection.query("SELECT kind, tenant, due_jobs, oldest_wait_seconds FROM encours.oldest_due_jobs ORDER BY 1, 2").rows.map {
                    "\(try $0.decode(0, as: String.self)) \(try $0.decode(1, as: String.self)) \(try $0.decode(2, as: Int.self)) \(Int(try $0.decode(3, as: Double.self) / 60))"
                }
            }
            #expect(due == ["dunning.run beta 2 10", "noop acme 3 10"])
            let lapsed = try await database.withConnection { connection in
                try connection.query("SELECT tenant, worker_id, lapsed_seconds FROM encours.lapsed_leases").rows.map {
                    (try $0.decode(0, as: String.self), try $0.decode(1, as: String.self), try $0.decode(2, as: Double.self))
                }
            }
            #expect(lapsed.count == 1 && lapsed[0].0 == "acme" && lapsed[0].1 == "w1" && (29...60).contains(lapsed[0].2))
            #expect(try await database.integer("SELECT running_jobs FROM encours.worker_status WHERE worker_id = 'w1'") == 1)
            // The leader's gauges read the queue the same way.
            let readings = try await database.withConnection { try QueueStatements.gaugeReadings(alive: .seconds(60), on: $0) }
            #expect(readings.lapsed == 1 && readings.workers == 1)
            #expect(readings.groups.map { "\($0.state) \($0.kind) \($0.tenant) \($0.jobs) \(Int($0.oldestSeconds / 60))" }.sorted() == depth)
        }
    }

    @Test("a claim commits without waiting for the WAL flush, set in its own transaction only: the connection keeps its settings (PgBouncer)")
    func claimCommitIsLocal() async throws {
        try await TestDatabase.with { database in
            let acme = try await makeTenant(database, "acme")
            try await enqueueCopies(database, NewJob(tenantID: acme, kind: "noop"), count: 3)
            let (claimed, setting, durableClaimed) = try await database.withConnection { connection in
                // (The test cluster runs with synchronous_commit off; this session says on.)
                try connection.execute("SET synchronous_commit = on")
                let claimed = try QueueStatements.claim(
                    workerID: "w", limit: 2, lease: .seconds(30), cursor: 0, tenantIDs: nil, excludedTenantIDs: nil, kinds: ["noop"],
                    durable: false, on: connection)
                let setting = try connection.query("SHOW synchronous_commit").decode(String.self, row: 0, column: 0)
                let durable = try QueueStatements.claim(
                    workerID: "w", limit: 2, lease: .seconds(30), cursor: 0, tenantIDs: nil, excludedTenantIDs: nil, kinds: ["noop"],
                    durable: true, on: connection)
                return (claimed.count, setting, durable.count)
            }
            #expect(claimed == 2 && durableClaimed == 1)
            #expect(setting == "on", "nothing left on the connection")
            // What the claim statement's transaction commits with.
            let inside = try await database.withConnection { connection in
                try connection.execute("SET synchronous_commit = on")
                return try connection.query("SELECT current_setting('synchronous_commit') FROM (SELECT set_config('synchronous_commit', 'off', true)) AS local_commit")
                    .decode(String.self, row: 0, column: 0)
            }
            #expect(inside == "off")
        }
    }
}
