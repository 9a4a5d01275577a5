import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Testing

@Suite("Queue engine against PostgreSQL")
struct QueueEngineTests {
    @Test("concurrent claims skip each other's locked rows, and claim_jobs itself seeks jobs_claim_idx")
    func claimSkipsLockedRowsAndUsesIndex() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let other = try await makeTenant(database, "beta")
            try await enqueueCopies(database, NewJob(tenantID: tenant, kind: "noop"), count: 5_000)
            try await enqueueCopies(database, NewJob(tenantID: other, kind: "risk.recalc"), count: 5_000)
            let url = database.url
            let (firstIDs, secondIDs, notices) = try await database.withConnection { admin in
                let first = try PostgresConnection(connectionString: url)
                let second = try PostgresConnection(connectionString: url)
                let claimSQL = "SELECT id FROM encours.claim_jobs($1, 100, interval '30 seconds', 0, NULL, NULL, ARRAY['noop'])"
                try first.execute("BEGIN")
                let firstIDs = Set(try first.query(claimSQL, ["a"]).rows.map { try $0.decode(0, as: Int64.self) })
                // The first claim is still uncommitted: its rows are locked, so the second skips them.
                let secondIDs = Set(try second.query(claimSQL, ["b"]).rows.map { try $0.decode(0, as: Int64.self) })
                try first.execute("COMMIT")
                // The plans of the statements inside claim_jobs, as PostgreSQL ran them.
                try admin.execute("ANALYZE encours.jobs")
                try admin.execute(
                    """
                    LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;
                    SET client_min_messages = log
                    """)
                admin.captureNotices = true
                _ = try admin.query(claimSQL, ["c"])
                return (firstIDs, secondIDs, admin.takeNotices().joined(separator: "\n"))
            }
            #expect(firstIDs.count == 100)
            #expect(secondIDs.count == 100)
            #expect(firstIDs.isDisjoint(with: secondIDs))
            #expect(notices.contains("Index Scan using jobs_claim_idx"), "plans: \(notices)")
            #expect(!notices.contains("Seq Scan on jobs"), "plans: \(notices)")
        }
    }

    @Test("a worker processes 2,000 jobs of two tenants, each exactly once, completions batched")
    func batchProcessing() async throws {
        try await TestDatabase.with { database in
            let acme = try await makeTenant(database, "acme")
            let beta = try await makeTenant(database, "beta")
            let probe = ConcurrencyProbe()
            try await enqueueCopies(database, NewJob(tenantID: acme, kind: "test.probe"), count: 1_000)
            try await enqueueCopies(database, NewJob(tenantID: beta, kind: "test.probe"), count: 1_000)
            try await withWorker(database, testConfiguration(concurrency: 16, drain: true), handlers: [ScriptedHandler(kind: "test.probe", probe: probe)]) { worker in
                let done = try await database.waitUntil { connection in
                    try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'completed'").decode(Int.self, row: 0, column: 0) == 2_000
                }
                #expect(done)
            }
            #expect(probe.totalRuns == 2_000)
            let attempts = try await database.withConnection { connection in
                try connection.query("SELECT max(attempt), min(attempt) FROM encours.jobs").rows.map {
                    [try $0.decode(0, as: Int.self), try $0.decode(1, as: Int.self)]
                }
            }
            #expect(attempts == [[1, 1]])
        }
    }

    @Test("--tenants, --exclude-tenants and --kinds limit what a worker takes")
    func workerFilters() async throws {
        try await TestDatabase.with { database in
            let acme = try await makeTenant(database, "acme")
            let beta = try await makeTenant(database, "beta")
            let gamma = try await makeTenant(database, "gamma")
            let probe = ConcurrencyProbe()
            for tenant in [acme, beta, gamma] {
                _ = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop"), NewJob(tenantID: tenant, kind: "test.probe")])
            }
            var only = testConfiguration(drain: true)
            only.tenantIDs = [acme, beta]
            only.excludedTenantIDs = [beta]
            only.kinds = ["noop"]
            try await withWorker(database, only, handlers: [ScriptedHandler(), ScriptedHandler(kind: "test.probe", probe: probe)]) { _ in
                try await eventually(database) { try $0.query("SELECT count(*) FROM encours.jobs WHERE state = 'completed'").decode(Int.self, row: 0, column: 0) == 1 }
            }
            let done = try await database.withConnection { connection in
                try connection.query("SELECT tenant_id, kind FROM encours.jobs WHERE state = 'completed'").rows.map {
                    "\(try $0.decode(0, as: Int64.self)):\(try $0.decode(1, as: String.self))"
                }
            }
            #expect(done == ["\(acme):noop"])
            #expect(probe.totalRuns == 0)
            var excluding = testConfiguration(drain: true)
            excluding.excludedTenantIDs = [gamma]
            try await withWorker(database, excluding, handlers: [ScriptedHandler(), ScriptedHandler(kind: "test.probe", probe: probe)]) { _ in
                try await eventually(database) { try $0.query("SELECT count(*) FROM encours.jobs WHERE state = 'completed'").decode(Int.self, row: 0, column: 0) == 4 }
            }
            #expect(try await stateCount(database, .available, tenantID: gamma) == 2)
        }
    }

    @Test("bulk enqueue by COPY inserts available and scheduled jobs, and refuses unique keys")
    func bulkEnqueue() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let later = Date().addingTimeInterval(3600)
            let jobs = (0..<2_500).map { index in
                NewJob(tenantID: tenant, kind: "noop", payload: #"{"n": \#(index), "note": "tab\there"}"#, runAt: index % 5 == 0 ? later : nil)
            }
            let copied = try await database.withConnection { try JobQueue.bulkEnqueue(jobs, on: $0) }
            #expect(copied == 2_500)
            #expect(try await stateCount(database, .available) == 2_000)
            #expect(try await stateCount(database, .scheduled) == 500)
            let note = try await database.withConnection { try $0.query("SELECT payload->>'note' FROM encours.jobs LIMIT 1").first?[0] }
            #expect(note == "tab\there")
            await #expect(throws: QueueError.self) {
                try await database.withConnection {
                    try JobQueue.bulkEnqueue([NewJob(tenantID: tenant, kind: "noop", uniqueKey: "k")], on: $0)
                }
            }
            await #expect(throws: PostgresError.self) {
                try await database.withConnection { try JobQueue.bulkEnqueue([NewJob(tenantID: tenant, kind: "noop", payload: "[1]")], on: $0) }
            }
            #expect(try await stateCount(database, .available) == 2_000, "a failed COPY inserts nothing")
        }
    }

    @Test("priority 1 jobs are claimed before priority 4 jobs of the same tenant")
    func priorities() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            _ = try await enqueue(database, (0..<5).map { _ in NewJob(tenantID: tenant, kind: "noop", priority: 4) })
            let urgent = try await enqueue(database, (0..<5).map { _ in NewJob(tenantID: tenant, kind: "noop", priority: 1) })
            let claimed = try await claim(database, limit: 5).map(\.id).sorted()
            #expect(claimed == urgent)
        }
    }

    @Test("a job with run_at in the future is scheduled, and runs only once its time has come")
    func scheduling() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let runAt = Date().addingTimeInterval(1.5)
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", runAt: runAt)])
            let id = try #require(ids.first)
            #expect(try await fetchJob(database, id).state == .scheduled)
            try await withWorker(database, testConfiguration()) { _ in
                let completed = try await database.waitUntil(timeout: .seconds(10)) { connection in
                    try JobQueue.job(id: id, on: connection)?.state == .completed
                }
                #expect(completed)
            }
            let job = try await fetchJob(database, id)
            let attemptedAt = try #require(job.attemptedAt)
            #expect(attemptedAt >= runAt.addingTimeInterval(-0.05), "ran at \(attemptedAt), due \(runAt)")
        }
    }

    @Test("a unique key admits one unfinished job per tenant and kind, and another once it finished")
    func uniqueKeys() async throws {
        try await TestDatabase.with { database in
            let acme = try await makeTenant(database, "acme")
            let beta = try await makeTenant(database, "beta")
            let first = try await database.withConnection {
                try JobQueue.enqueue([NewJob(tenantID: acme, kind: "noop", uniqueKey: "run-2026-11-30")], on: $0)
            }
            #expect(first.insertedIDs.count == 1)
            let duplicate = try await database.withConnection {
                try JobQueue.enqueue([
                    NewJob(tenantID: acme, kind: "noop", uniqueKey: "run-2026-11-30"),
                    NewJob(tenantID: acme, kind: "noop", uniqueKey: "run-2026-11-30"),
                ], on: $0)
            }
            #expect(duplicate.insertedIDs.isEmpty)
            #expect(duplicate.skippedAsDuplicate == 2)
            let otherTenant = try await database.withConnection {
                try JobQueue.enqueue([NewJob(tenantID: beta, kind: "noop", uniqueKey: "run-2026-11-30")], on: $0)
            }
            #expect(otherTenant.insertedIDs.count == 1)
            try await withWorker(database, testConfiguration(drain: true)) { _ in
                try await eventually(database) { try JobQueue.job(id: first.insertedIDs[0], on: $0)?.state == .completed }
            }
            let again = try await database.withConnection {
                try JobQueue.enqueue([NewJob(tenantID: acme, kind: "noop", uniqueKey: "run-2026-11-30")], on: $0)
            }
            #expect(again.insertedIDs.count == 1)
        }
    }

    @Test("a failing job backs off, is retried, then discarded after max_attempts with every error kept")
    func retriesThenDiscard() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let probe = ConcurrencyProbe()
            let ids = try await enqueue(database, [
                NewJob(tenantID: tenant, kind: "test.probe", payload: #"{"fail": "boom"}"#, maxAttempts: 3),
                NewJob(tenantID: tenant, kind: "test.probe"),
            ])
            try await withWorker(database, testConfiguration(), handlers: [ScriptedHandler(kind: "test.probe", probe: probe)]) { _ in
                try await eventually(database) { try JobQueue.job(id: ids[0], on: $0)?.state == .discarded }
            }
            let failed = try await fetchJob(database, ids[0])
            #expect(failed.attempt == 3)
            #expect(failed.errors.map(\.error) == ["boom", "boom", "boom"])
            #expect(failed.errors.map(\.attempt) == [1, 2, 3])
            #expect(failed.finalizedAt != nil)
            #expect(probe.runs(ids[0]) == 3)
            #expect(try await fetchJob(database, ids[1]).state == .completed, "a failing job does not take the worker down")
            // Backoff: the gaps between attempts follow the policy (20 ms, then 40 ms, ±10 %).
            let times = failed.errors.compactMap { PostgresTimestamp.parse($0.at) }
            #expect(times.count == 3)
            if times.count == 3 {
                #expect(times[1].timeIntervalSince(times[0]) >= 0.018)
                #expect(times[2].timeIntervalSince(times[1]) >= 0.036)
            }
        }
    }

    @Test("a job held by a dead worker is rescued (after a backoff) and run again within twice the lease")
    func leaseRescue() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop")])
            let lease = Duration.seconds(3)
            // A "worker" claims the job and dies at once: it never heartbeats or completes.
            let claimedAt = try await database.withConnection { connection -> Date in
                let row = try #require(try connection.query(
                    "SELECT attempted_at FROM encours.claim_jobs('ghost', 1, interval '3 seconds', 0, NULL, NULL, ARRAY['noop'])"
                ).first)
                return try row.decode("attempted_at")
            }
            try await withWorker(database, testConfiguration(lease: lease)) { _ in
                try await eventually(database, timeout: .seconds(20)) { try JobQueue.job(id: ids[0], on: $0)?.state == .completed }
            }
            let job = try await fetchJob(database, ids[0])
            let secondAttempt = try #require(job.attemptedAt)
            #expect(job.attempt == 2)
            #expect(job.attemptedBy.first == "ghost")
            let rescue = try #require(job.errors.first)
            #expect(rescue.error.contains("worker lost: worker ghost"))
            let rescuedAt = try #require(PostgresTimestamp.parse(rescue.at))
            #expect(rescuedAt.timeIntervalSince(claimedAt) <= 6.0, "rescued \(rescuedAt.timeIntervalSince(claimedAt)) s after the claim (lease 3 s)")
            // Rescued with the retry backoff (20 ms here), not at once.
            #expect(secondAttempt.timeIntervalSince(rescuedAt) >= 0.017, "retried \(secondAttempt.timeIntervalSince(rescuedAt)) s after the rescue")
        }
    }

    @Test("cancelling an available job stops it from ever running")
    func cancelAvailable() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let probe = ConcurrencyProbe()
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "test.probe"), NewJob(tenantID: tenant, kind: "test.probe")])
            let cancelled = try await database.withConnection { try JobQueue.cancel(id: ids[0], on: $0) }
            #expect(cancelled.state == .cancelled)
            try await withWorker(database, testConfiguration(drain: true), handlers: [ScriptedHandler(kind: "test.probe", probe: probe)]) { _ in
                try await eventually(database) { try JobQueue.job(id: ids[1], on: $0)?.state == .completed }
            }
            #expect(probe.runs(ids[0]) == 0)
            #expect(try await fetchJob(database, ids[0]).state == .cancelled)
        }
    }

    @Test("cancelling a running job cancels its handler's task, by notification or at the next heartbeat", arguments: [true, false])
    func cancelRunning(listen: Bool) async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": 60000}"#)])
            // With LISTEN, the lease is 60 s: the next heartbeat is 20 s away, so only the NOTIFY
            // can deliver the cancel within 15 s. Without LISTEN the cancel is seen at the next
            // heartbeat (every third of a 6 s lease, a lease a loaded machine keeps renewing).
            // Either way the bound is well under the handler's 60 s sleep, which proves its task
            // was cancelled, with room for a loaded 2-core CI machine (8.7 s was seen there).
            let bound: Duration = listen ? .seconds(15) : .seconds(30)
            let configuration = testConfiguration(lease: .seconds(listen ? 60 : 6), listen: listen)
            try await withWorker(database, configuration) { _ in
                try await eventually(database) { try JobQueue.job(id: ids[0], on: $0)?.state == .running }
                let requested = try await database.withConnection { try JobQueue.cancel(id: ids[0], on: $0) }
                #expect(requested.cancelRequested)
                let started = ContinuousClock.now
                try await eventually(database, timeout: bound + .seconds(5)) { try JobQueue.job(id: ids[0], on: $0)?.state == .cancelled }
                // The handler's 60 s sleep was cut short: the task saw cancellation.
                #expect(ContinuousClock.now - started < bound)
            }
            let job = try await fetchJob(database, ids[0])
            #expect(job.errors.last?.error == "cancelled while running")
        }
    }

    @Test("a handler's writes and the jobs it enqueues commit or roll back together")
    func transactionalEnqueue() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await makeEffectsTable(database)
            let ids = try await enqueue(database, [
                NewJob(tenantID: tenant, kind: "test.chain", payload: #"{"mode": "commit"}"#, maxAttempts: 1),
                NewJob(tenantID: tenant, kind: "test.chain", payload: #"{"mode": "fail"}"#, maxAttempts: 1),
            ])
            try await withWorker(database, testConfiguration(drain: true), handlers: [ChainHandler(), ScriptedHandler()]) { _ in
                try await eventually(database) { connection in
                    try connection.query(
                        "SELECT count(*) FROM encours.jobs WHERE state IN ('completed', 'discarded')"
                    ).decode(Int.self, row: 0, column: 0) == 3
                }
            }
            let effects = try await database.withConnection {
                try $0.query("SELECT job_id FROM public.effects").rows.map { try $0.decode(0, as: Int64.self) }
            }
            #expect(effects == [ids[0]])
            let followUps = try await database.withConnection {
                try $0.query("SELECT payload->>'parent' FROM encours.jobs WHERE kind = 'noop'").rows.compactMap { $0[0] }
            }
            #expect(followUps == [String(ids[0])])
            #expect(try await fetchJob(database, ids[1]).state == .discarded)
        }
    }

    @Test("NOTIFY wakes an idle worker long before its poll interval; --no-listen still works by polling")
    func listenAndPoll() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await withWorker(database, testConfiguration(poll: .seconds(60))) { _ in
                try await Task.sleep(for: .seconds(1))  // let it go idle, waiting on the 60 s poll
                let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop")])
                // Far sooner than the 60 s poll: only the notification can have woken it.
                try await eventually(database, timeout: .seconds(10)) { try JobQueue.job(id: ids[0], on: $0)?.state == .completed }
            }
            try await withWorker(database, testConfiguration(listen: false, poll: .milliseconds(100))) { _ in
                let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop")])
                try await eventually(database, timeout: .seconds(3)) { try JobQueue.job(id: ids[0], on: $0)?.state == .completed }
                let listeners = try await database.withConnection {
                    try $0.query("SELECT count(*) FROM pg_listening_channels()").decode(Int.self, row: 0, column: 0)
                }
                #expect(listeners == 0)
            }
        }
    }

    @Test("running workers register with heartbeats and show in queue stats; they leave on shutdown")
    func workerRegistry() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": 60000}"#)])
            // A lease a loaded machine can keep renewing (heartbeats every 2 s).
            var configuration = testConfiguration(lease: .seconds(6))
            configuration.shutdownGracePeriod = .milliseconds(100)
            let workerID = configuration.workerID
            try await withWorker(database, configuration) { _ in
                try await eventually(database) { try JobQueue.job(id: ids[0], on: $0)?.state == .running }
                let first = try await database.withConnection { try QueueStats.fetch(on: $0) }
                let entry = try #require(first.workers.first { $0.id == workerID })
                #expect(entry.running == 1)
                #expect(entry.pid == Int(ProcessInfo.processInfo.processIdentifier))
                // The heartbeat moves forward.
                try await eventually(database, timeout: .seconds(15)) { connection in
                    try QueueStats.fetch(on: connection).workers.first { $0.id == workerID }.map { $0.lastHeartbeatAt > entry.lastHeartbeatAt } ?? false
                }
            }
            let after = try await database.withConnection { try QueueStats.fetch(on: $0) }
            #expect(after.workers.isEmpty)
            // Released at the end of the grace period: available again, the attempt kept but not counted.
            let job = try await fetchJob(database, ids[0])
            #expect(job.state == .available)
            #expect(job.attempt == 1)
            #expect(job.uncountedAttempts == 1)
            #expect(job.countedAttempts == 0)
        }
    }

    @Test("SIGTERM-style shutdown lets running jobs finish within the grace period")
    func gracefulShutdownFinishesJobs() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let ids = try await enqueue(database, (0..<4).map { _ in NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": 400}"#) })
            try await withWorker(database, testConfiguration()) { _ in
                try await eventually(database) { connection in
                    try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'running'").decode(Int.self, row: 0, column: 0) == 4
                }
            }
            for id in ids { #expect(try await fetchJob(database, id).state == .completed) }
        }
    }

    @Test("finished jobs are pruned after the retention by the elected maintainer, and only one worker leads at a time")
    func retention() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await enqueueCopies(database, NewJob(tenantID: tenant, kind: "noop"), count: 300)
            var one = testConfiguration()
            one.completedRetention = .milliseconds(200)
            one.pruneInterval = .milliseconds(300)
            var two = one
            two.workerID = "second-\(UUID().uuidString.prefix(6))"
            try await withWorker(database, one) { first in
                try await withWorker(database, two) { second in
                    try await eventually(database, timeout: .seconds(45)) { connection in
                        try connection.query("SELECT count(*) FROM encours.jobs").decode(Int.self, row: 0, column: 0) == 0
                    }
                    // Sampled many times while both run: never both leaders, and the row names the one that is.
                    for _ in 0..<20 {
                        let leader = try await database.withConnection {
                            try $0.query("SELECT worker_id FROM encours.leaders WHERE name = 'maintenance'").first?[0]
                        }
                        let claims = [first.isMaintainer, second.isMaintainer]
                        #expect(claims.filter { $0 }.count <= 1, "both workers think they lead")
                        if first.isMaintainer { #expect(leader == one.workerID) }
                        if second.isMaintainer { #expect(leader == two.workerID) }
                        try await Task.sleep(for: .milliseconds(25))
                    }
                }
            }
        }
    }

    @Test("leadership: of 8 concurrent elections one wins; the holder keeps it; another takes it only once it expired")
    func election() async throws {
        try await TestDatabase.with { database in
            let sessions = (0..<8).map { database.session(name: "elect-\($0)") }
            let winners = try await withThrowingTaskGroup(of: String?.self) { group in
                for (index, session) in sessions.enumerated() {
                    group.addTask {
                        try await session.withConnection { connection in
                            try connection.query(
                                """
                                INSERT INTO encours.leaders AS l (name, worker_id, expires_at) VALUES ('maintenance', $1, now() + interval '1 second')
                                ON CONFLICT (name) DO UPDATE SET worker_id = EXCLUDED.worker_id, expires_at = EXCLUDED.expires_at
                                WHERE l.worker_id = EXCLUDED.worker_id OR l.expires_at < now()
                                RETURNING worker_id
                                """, ["w\(index)"]).first?[0]
                        }
                    }
                }
                var winners: [String] = []
                for try await winner in group { if let winner { winners.append(winner) } }
                return winners
            }
            #expect(winners.count == 1, "winners: \(winners)")
            for session in sessions { await session.close() }
        }
    }
}

/// `test.chain`: in its fenced transaction, records an effect and enqueues a follow-up `noop`;
/// mode `fail` throws after both.
struct ChainHandler: JobHandler {
    let kind = "test.chain"
    struct Rollback: Error {}

    func handle(_ context: JobContext) async throws {
        let job = context.job
        let fail = try JobPayload(job.payload).string("mode") == "fail"
        try await context.transaction { transaction in
            try transaction.connection.query("INSERT INTO public.effects (job_id) VALUES ($1)", [job.id])
            _ = try transaction.enqueue([NewJob(tenantID: job.tenantID, kind: "noop", payload: #"{"parent": "\#(job.id)"}"#)])
            if fail { throw Rollback() }
        }
    }
}
