import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Testing

@Suite("Fairness between tenants")
struct FairnessTests {
    @Test("100 jobs enqueued for B behind A's 50,000-job backlog all start within a few claim batches")
    func backlogDoesNotStarveOthers() async throws {
        try await TestDatabase.with { database in
            let a = try await makeTenant(database, "tenant-a")
            let b = try await makeTenant(database, "tenant-b")
            try await enqueueCopies(database, NewJob(tenantID: a, kind: "noop"), count: 50_000)
            try await enqueueCopies(database, NewJob(tenantID: b, kind: "noop"), count: 100)
            try await withWorker(database, testConfiguration(concurrency: 8)) { _ in
                try await eventually(database, timeout: .seconds(60)) { connection in
                    try connection.query(
                        "SELECT count(*) FROM encours.jobs WHERE tenant_id = $1 AND attempt > 0", [b]
                    ).decode(Int.self, row: 0, column: 0) == 100
                }
            }
            // How much of A's backlog ran before B's last job started.
            let aheadOfB = try await database.withConnection { connection in
                try connection.query(
                    """
                    SELECT count(*) FROM encours.jobs
                    WHERE tenant_id = $1 AND attempted_at <= (SELECT max(attempted_at) FROM encours.jobs WHERE tenant_id = $2)
                    """, [a, b]
                ).decode(Int.self, row: 0, column: 0)
            }
            // Equal shares per claim: B's 100 jobs need about 100 of A's alongside, a few batches, not 50,000.
            #expect(aheadOfB <= 300, "\(aheadOfB) of A's jobs started before B's last one")
        }
    }

    @Test("a tenant's max_concurrent_jobs holds across several workers; other tenants are not capped")
    func concurrencyCapAcrossWorkers() async throws {
        try await TestDatabase.with { database in
            let capped = try await makeTenant(database, "capped", maxConcurrentJobs: 3)
            let free = try await makeTenant(database, "free")
            let probe = ConcurrencyProbe()
            try await enqueueCopies(database, NewJob(tenantID: capped, kind: "test.probe", payload: #"{"sleep_ms": 40}"#), count: 90)
            try await enqueueCopies(database, NewJob(tenantID: free, kind: "test.probe", payload: #"{"sleep_ms": 40}"#), count: 90)
            let handlers: [any JobHandler] = [ScriptedHandler(kind: "test.probe", probe: probe)]
            var configurations = (0..<3).map { _ in testConfiguration(concurrency: 8) }
            for index in configurations.indices { configurations[index].workerID = "cap-worker-\(index)" }
            try await withWorker(database, configurations[0], handlers: handlers) { _ in
                try await withWorker(database, configurations[1], handlers: handlers) { _ in
                    try await withWorker(database, configurations[2], handlers: handlers) { _ in
                        try await eventually(database, timeout: .seconds(60)) { connection in
                            try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'completed'").decode(Int.self, row: 0, column: 0) == 180
                        }
                    }
                }
            }
            #expect(probe.peak(capped) == 3, "peak \(probe.peak(capped)) for a cap of 3")
            #expect(probe.peak(free) > 3, "the uncapped tenant ran \(probe.peak(free)) at once")
            let workersUsed = try await database.withConnection { connection in
                try connection.query(
                    "SELECT count(DISTINCT attempted_by[1]) FROM encours.jobs WHERE tenant_id = $1", [capped]
                ).decode(Int.self, row: 0, column: 0)
            }
            #expect(workersUsed >= 2, "the capped tenant's jobs were spread over several workers")
        }
    }
}
