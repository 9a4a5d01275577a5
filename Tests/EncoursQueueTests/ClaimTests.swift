import EncoursPostgres
import EncoursTestSupport
import Foundation
import Testing

@testable import EncoursQueue

@Suite("Claims never stall")
struct ClaimTests {
    @Test("30 tenants with jobs of a kind the worker does not run, then 5 noop jobs: a --drain worker runs the 5 and exits")
    func kindsTheWorkerDoesNotRun() async throws {
        try await TestDatabase.with { database in
            for index in 1...30 {
                let tenant = try await makeTenant(database, String(format: "t%02d", index))
                _ = try await enqueue(database, [NewJob(tenantID: tenant, kind: "dunning.run")])
            }
            let zz = try await makeTenant(database, "zz")
            try await enqueueCopies(database, NewJob(tenantID: zz, kind: "noop"), count: 5)
            // All defaults but the test timings, then concurrency 1.
            for concurrency in [10, 1] {
                try await database.withConnection { try $0.execute("UPDATE encours.jobs SET state = 'available', attempt = 0 WHERE kind = 'noop'") }
                try await withWorker(database, testConfiguration(concurrency: concurrency, drain: true)) { _ in
                    try await eventually(database, timeout: .seconds(10)) { connection in
                        try connection.query("SELECT count(*) FROM encours.jobs WHERE kind = 'noop' AND state = 'completed'")
                            .decode(Int.self, row: 0, column: 0) == 5
                    }
                }
            }
            #expect(try await stateCount(database, .available) == 30, "the dunning.run jobs wait for a worker that runs them")
        }
    }

    @Test("a --drain worker runs every retry of its failing jobs before it exits, even a retry whose failure is still being recorded")
    func drainWaitsForUnrecordedRetries() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await enqueueCopies(database, NewJob(tenantID: tenant, kind: "noop", payload: #"{"fail": "boom"}"#, maxAttempts: 3), count: 40)
            // The race is a matter of milliseconds: four drains give it four chances to show.
            for concurrency in [8, 1, 4, 2] {
                try await database.withConnection {
                    try $0.execute("UPDATE encours.jobs SET state = 'available', run_at = now(), uncounted_attempts = attempt, errors = '[]'")
                }
                let worker = QueueWorker(
                    connectionString: database.url, configuration: testConfiguration(concurrency: concurrency, drain: true),
                    handlers: [ScriptedHandler()], logger: quietLogger)
                try await worker.run()
                #expect(try await stateCount(database, .discarded) == 40, "concurrency \(concurrency): every job ran its 3 attempts")
                #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE jsonb_array_length(errors) = 3") == 40)
            }
        }
    }

    @Test("tenants at their cap, excluded tenants and tenants outside --tenants never use up a claim")
    func ineligibleTenantsAreSkipped() async throws {
        try await TestDatabase.with { database in
            var capped: [Int64] = []
            for index in 1...6 {
                let tenant = try await makeTenant(database, "capped\(index)", maxConcurrentJobs: 1)
                capped.append(tenant)
                try await enqueueCopies(database, NewJob(tenantID: tenant, kind: "noop"), count: 3)
            }
            // Each capped tenant has one job running elsewhere: it is at its cap.
            for tenant in capped {
                _ = try await claim(database, worker: "elsewhere", limit: 1, tenants: [tenant])
            }
            var excluded: [Int64] = []
            for index in 1...6 {
                let tenant = try await makeTenant(database, "excluded\(index)")
                excluded.append(tenant)
                try await enqueueCopies(database, NewJob(tenantID: tenant, kind: "noop"), count: 3)
            }
            let eligible = try await makeTenant(database, "eligible")
            try await enqueueCopies(database, NewJob(tenantID: eligible, kind: "noop"), count: 3)

            let first = try await claim(database, limit: 2, exclude: excluded)
            #expect(first.count == 2)
            #expect(Set(first.map(\.tenantID)) == [eligible])
            let listed = try await claim(database, limit: 5, tenants: capped + excluded + [eligible], exclude: excluded)
            #expect(listed.map(\.tenantID) == [eligible], "only the eligible tenant's last job")
        }
    }

    @Test("room left after equal shares is filled from tenants that have more")
    func sharesFillTheClaim() async throws {
        try await TestDatabase.with { database in
            let a = try await makeTenant(database, "a")
            let others = [try await makeTenant(database, "b"), try await makeTenant(database, "c"), try await makeTenant(database, "d")]
            try await enqueueCopies(database, NewJob(tenantID: a, kind: "noop"), count: 5)
            // The other three tenants only have jobs of another kind.
            for tenant in others { _ = try await enqueue(database, [NewJob(tenantID: tenant, kind: "risk.recalc")]) }
            #expect(try await claim(database, limit: 4).count == 4)

            let e = try await makeTenant(database, "e")
            _ = try await enqueue(database, [NewJob(tenantID: e, kind: "noop")])
            try await database.withConnection { try $0.execute("UPDATE encours.jobs SET state = 'available' WHERE kind = 'noop'") }
            // a: 5, e: 1, limit 4: e's one, and three of a's (not 2 + 1).
            let mixed = try await claim(database, limit: 4)
            #expect(mixed.count == 4)
            #expect(mixed.filter { $0.tenantID == e }.count == 1)
            // A tenant's kinds are merged by priority: the urgent risk.recalc of b comes first.
            _ = try await enqueue(database, [NewJob(tenantID: others[0], kind: "noop", priority: 3), NewJob(tenantID: others[0], kind: "risk.recalc", priority: 1)])
            let merged = try await claim(database, limit: 1, tenants: [others[0]], kinds: ["noop", "risk.recalc"])
            #expect(merged.map(\.kind) == ["risk.recalc"])
            #expect(merged.first?.priority == 1)
        }
    }

    @Test("an excluded tenant's backlog is skipped by one seek, not read row by row")
    func exclusionSeeksPast() async throws {
        try await TestDatabase.with { database in
            let big = try await makeTenant(database, "big")
            let small = try await makeTenant(database, "small")
            try await enqueueCopies(database, NewJob(tenantID: big, kind: "noop"), count: 50_000)
            try await enqueueCopies(database, NewJob(tenantID: small, kind: "noop"), count: 10)
            let rows = try await database.withConnection { connection -> [Int] in
                try connection.execute("ANALYZE encours.jobs")
                try connection.execute(
                    """
                    LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;
                    SET auto_explain.log_analyze = on; SET client_min_messages = log
                    """)
                connection.captureNotices = true
                let claimed = try connection.query(
                    "SELECT tenant_id FROM encours.claim_jobs('w', 10, interval '30 seconds', 0, NULL, $1, ARRAY['noop'])", [[big]]
                ).rows.map { try $0.decode(0, as: Int64.self) }
                #expect(claimed.count == 10)
                #expect(Set(claimed) == [small])
                // Every plan node's row count, from "(actual time=... rows=N loops=M)".
                let text = connection.takeNotices().joined(separator: "\n")
                let regex = try NSRegularExpression(pattern: "actual time=[0-9.]+\\.\\.[0-9.]+ rows=([0-9]+)")
                return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
                    Range($0.range(at: 1), in: text).flatMap { Int(text[$0]) }
                }
            }
            #expect(!rows.isEmpty)
            #expect((rows.max() ?? 0) <= 10, "a plan node read \(rows.max() ?? 0) rows: the excluded backlog was scanned")
        }
    }

    @Test("bounded wait: mixing unhandled kinds, capped, excluded and huge tenants, every claimable job is claimed within its bound")
    func boundedWait() async throws {
        try await TestDatabase.with { database in
            // 12 tenants, claims of 3: tenant i has i jobs of noop; some also have other kinds,
            // two are capped at 1, one is excluded, one has a huge backlog.
            var claimable: [Int64: [Int64]] = [:]  // tenant -> its noop job ids in claim order
            var excluded: Int64 = 0
            for index in 1...12 {
                let cap = index % 5 == 0 ? 1 : nil
                let tenant = try await makeTenant(database, "m\(index)", maxConcurrentJobs: cap)
                if index % 3 == 0 { _ = try await enqueue(database, (0..<20).map { _ in NewJob(tenantID: tenant, kind: "risk.recalc", priority: 1) }) }
                if index == 7 {
                    excluded = tenant
                    try await enqueueCopies(database, NewJob(tenantID: tenant, kind: "noop"), count: 30)
                    continue
                }
                let count = index == 11 ? 3_000 : index
                if index == 11 {
                    try await enqueueCopies(database, NewJob(tenantID: tenant, kind: "noop"), count: count)
                } else {
                    _ = try await enqueue(database, (0..<count).map { _ in NewJob(tenantID: tenant, kind: "noop") })
                }
                claimable[tenant] = try await database.withConnection { connection in
                    try connection.query("SELECT id FROM encours.jobs WHERE tenant_id = $1 AND kind = 'noop' ORDER BY priority, run_at, id", [tenant])
                        .rows.map { try $0.decode(0, as: Int64.self) }
                }
            }
            let limit = 3
            let eligibleTenants = claimable.count
            let roundsPerVisit = (eligibleTenants + limit - 1) / limit
            var claimedAt: [Int64: Int] = [:]
            var cursor: Int64 = 0
            let smallJobs = claimable.filter { $0.value.count < 100 }.values.reduce(0) { $0 + $1.count }
            var round = 0
            while claimedAt.count < smallJobs + 40, round < 400 {
                round += 1
                let jobs = try await claim(database, limit: limit, cursor: cursor, exclude: [excluded])
                #expect(!jobs.isEmpty, "round \(round) claimed nothing while claimable jobs remain")
                for job in jobs { claimedAt[job.id] = round }
                cursor = JobProducer.nextCursor(after: cursor, claimedTenants: jobs.map(\.tenantID))
                #expect(!jobs.contains { $0.tenantID == excluded })
                // Each claim's jobs finish before the next claim (so capped tenants have room again).
                try await database.withConnection { connection in
                    _ = try connection.query("UPDATE encours.jobs SET state = 'completed', finalized_at = now() WHERE id = ANY ($1)", [jobs.map(\.id)])
                }
            }
            // A tenant is visited at least once every roundsPerVisit claims and gives its next job
            // each visit: its n-th job (1-based) is claimed by round n × roundsPerVisit.
            for (tenant, ids) in claimable where ids.count < 100 {
                for (position, id) in ids.enumerated() {
                    let bound = (position + 1) * roundsPerVisit
                    let at = try #require(claimedAt[id], "tenant \(tenant)'s job \(position + 1) was never claimed")
                    #expect(at <= bound, "tenant \(tenant)'s job \(position + 1) claimed at round \(at), bound \(bound)")
                }
            }
        }
    }
}
