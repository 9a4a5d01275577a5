import EncoursPostgres
import EncoursTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import EncoursQueue

/// Makes a running job's lease lapse now and rescues it, as the maintainer would.
func lapseAndRescue(_ database: TestDatabase, _ id: Int64, policy: RetryPolicy = RetryPolicy(base: .milliseconds(10), maximum: .milliseconds(10))) async throws
    -> QueueStatements.RescueOutcome
{
    try await database.withConnection { connection in
        try connection.query("UPDATE encours.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [id])
        return try QueueStatements.rescueExpired(limit: 100, policy: policy, on: connection)
    }
}

/// Writes records as the completer of `worker` would.
func record(_ database: TestDatabase, worker: String, _ records: [QueueStatements.Record]) async throws -> QueueStatements.RecordOutcome {
    try await database.withConnection { try QueueStatements.record(records, workerID: worker, on: $0) }
}

let noRetry = RetryPolicy(base: .milliseconds(10), maximum: .milliseconds(10), jitter: 0)

func resolution(_ outcome: AttemptOutcome, attempt: Int = 1, maxAttempts: Int = 20) -> AttemptResolution {
    AttemptResolution.resolve(outcome: outcome, attempt: attempt, maxAttempts: maxAttempts, policy: noRetry, unitRandom: 0.5)
}

@Suite("Every write fenced by lease")
struct FencingTests {
    @Test("a stale worker's record, heartbeat and release never touch a later run of the job; retries keep counting attempts")
    func staleWorkerIsFenced() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let id = try #require(try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", maxAttempts: 3)]).first)
            // Worker A claims attempt 1, is paused past its lease; the job is rescued and B claims attempt 2.
            #expect(try await claim(database, worker: "A", limit: 1).first?.attempt == 1)
            #expect(try await lapseAndRescue(database, id).retried == 1)
            try await database.withConnection { try $0.execute("UPDATE encours.jobs SET state = 'available' WHERE state = 'retryable'") }
            #expect(try await claim(database, worker: "B", limit: 1).first?.attempt == 2)
            // A wakes: its success, its failure, its release and its heartbeat are all dropped.
            for outcome in [AttemptOutcome.succeeded, .failed("late"), .released] {
                let written = try await record(database, worker: "A", [.init(jobID: id, attempt: 1, resolution: resolution(outcome))])
                #expect(written.recorded.isEmpty)
                #expect(written.stale == [id])
            }
            let beat = try await database.withConnection {
                try QueueStatements.heartbeat(workerID: "A", leases: [.init(jobID: id, attempt: 1)], lease: .seconds(30), on: $0)
            }
            #expect(beat.renewed.isEmpty && beat.busy.isEmpty)
            // Even A's id with B's attempt number is refused: the worker id is part of the fence.
            #expect(try await record(database, worker: "A", [.init(jobID: id, attempt: 2, resolution: resolution(.succeeded))]).stale == [id])
            var job = try await fetchJob(database, id)
            #expect(job.state == .running)
            #expect(job.workerID == "B")
            // B fails it for good (attempt 2 of 3 counted... then 3), and a manual retry continues the count.
            #expect(try await record(database, worker: "B", [.init(jobID: id, attempt: 2, resolution: resolution(.failed("boom"), attempt: 2, maxAttempts: 2))]).recorded == [id])
            job = try await fetchJob(database, id)
            #expect(job.state == .discarded)
            job = try await database.withConnection { try JobQueue.retry(id: id, on: $0) }
            #expect(job.state == .available)
            #expect(job.attempt == 2, "attempts only grow")
            #expect(job.uncountedAttempts == 2)
            #expect(job.errors.map(\.attempt) == [1, 2], "the history stays readable: \(job.errors)")
            let third = try #require(try await claim(database, worker: "A", limit: 1).first)
            #expect(third.attempt == 3)
            #expect(third.countedAttempts == 1, "a manual retry gives a full set of attempts")
            // A's record of attempt 1 still cannot land on attempt 3, even though A runs it again.
            #expect(try await record(database, worker: "A", [.init(jobID: id, attempt: 1, resolution: resolution(.succeeded))]).stale == [id])
            #expect(try await record(database, worker: "A", [.init(jobID: id, attempt: 3, resolution: resolution(.succeeded))]).recorded == [id])
        }
    }

    @Test("a cancel request wins over a failure, a retry and a release; a success stays completed")
    func cancelWins() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let ids = try await enqueue(database, (0..<3).map { _ in NewJob(tenantID: tenant, kind: "noop") })
            _ = try await claim(database, worker: "W", limit: 3)
            for id in ids { _ = try await database.withConnection { try JobQueue.cancel(id: id, on: $0) } }
            let written = try await record(database, worker: "W", [
                .init(jobID: ids[0], attempt: 1, resolution: resolution(.failed("boom"))),
                .init(jobID: ids[1], attempt: 1, resolution: resolution(.released)),
                .init(jobID: ids[2], attempt: 1, resolution: resolution(.succeeded)),
            ])
            #expect(Set(written.recorded) == Set(ids))
            #expect(written.madeAvailable == 0)
            let failed = try await fetchJob(database, ids[0])
            #expect(failed.state == .cancelled)
            #expect(failed.finalizedAt != nil)
            #expect(failed.errors.last?.error == "cancelled while running (the attempt failed: boom)")
            let released = try await fetchJob(database, ids[1])
            #expect(released.state == .cancelled)
            #expect(released.errors.last?.error == "cancelled while running (the attempt was released at shutdown)")
            #expect(try await fetchJob(database, ids[2]).state == .completed, "its work was done; a cancel cannot undo it")
        }
    }

    @Test("a cancel requested while a running handler fails ends the job cancelled, not retried (through a worker)")
    func cancelDuringFailingHandler() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            // The handler ignores cancellation for 1.5 s, then fails.
            let id = try #require(try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", payload: #"{"ignore_cancel_ms": 1500, "fail": "boom"}"#)]).first)
            try await withWorker(database, testConfiguration()) { _ in
                try await eventually(database) { try JobQueue.job(id: id, on: $0)?.state == .running }
                let requested = try await database.withConnection { try JobQueue.cancel(id: id, on: $0) }
                #expect(requested.state == .running)
                try await eventually(database) { try JobQueue.job(id: id, on: $0)?.state.isFinal == true }
                let job = try await fetchJob(database, id)
                #expect(job.state == .cancelled)
                #expect(job.attempt == requested.attempt, "it never ran again after the cancel")
            }
        }
    }

    @Test("rescue backs off, and a job whose workers die max_attempts times is discarded with 'worker lost' errors")
    func poisonJobs() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let id = try #require(try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", maxAttempts: 3)]).first)
            let backoff = RetryPolicy(base: .seconds(60), maximum: .seconds(3600), jitter: 0)
            for attempt in 1...3 {
                try await database.withConnection { try $0.execute("UPDATE encours.jobs SET state = 'available', run_at = now() WHERE id = \(id)") }
                #expect(try await claim(database, worker: "doomed-\(attempt)", limit: 1).first?.attempt == attempt)
                let outcome = try await lapseAndRescue(database, id, policy: backoff)
                let job = try await fetchJob(database, id)
                if attempt < 3 {
                    #expect(outcome.retried == 1)
                    #expect(job.state == .retryable, "not available at once: a poison job must not take down worker after worker")
                    // 60 s × 2^(attempt−1).
                    let delay = job.runAt.timeIntervalSince(try #require(PostgresTimestamp.parse(job.errors.last?.at ?? "")))
                    #expect(abs(delay - 60 * pow(2, Double(attempt - 1))) < 1, "delay \(delay)")
                } else {
                    #expect(outcome.discarded == 1)
                    #expect(job.state == .discarded)
                }
            }
            let job = try await fetchJob(database, id)
            #expect(job.errors.count == 3)
            #expect(job.errors.allSatisfy { $0.error.hasPrefix("worker lost: worker doomed-") })
        }
    }

    @Test("error history and attempted_by keep the last 20 entries and count the others")
    func historiesAreCapped() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let id = try #require(try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", maxAttempts: 30)]).first)
            for attempt in 1...25 {
                try await database.withConnection { try $0.execute("UPDATE encours.jobs SET state = 'available' WHERE id = \(id)") }
                _ = try await claim(database, worker: "w\(attempt)", limit: 1)
                let outcome = try await record(database, worker: "w\(attempt)", [
                    .init(jobID: id, attempt: attempt, resolution: resolution(.failed("failure \(attempt)"), attempt: attempt, maxAttempts: 30)),
                ])
                #expect(outcome.recorded == [id])
            }
            let job = try await fetchJob(database, id)
            #expect(job.errors.count == 20)
            #expect(job.errorsDropped == 5)
            #expect(job.errors.first?.error == "failure 6")
            #expect(job.errors.last?.error == "failure 25")
            #expect(job.attemptedBy.count == 20)
            #expect(job.attemptedBy.first == "w6")
            #expect(job.attemptedBy.last == "w25")
        }
    }

    @Test("a handler's transaction is tenant-scoped and fenced: it sees only its tenant, cannot enqueue for another, and completes the job with its writes")
    func fencedTenantTransaction() async throws {
        try await TestDatabase.with { database in
            let acme = try await makeTenant(database, "acme")
            let beta = try await makeTenant(database, "beta")
            try await makeEffectsTable(database)
            _ = try await enqueue(database, [NewJob(tenantID: beta, kind: "noop", payload: #"{"sleep_ms": 60000}"#)])
            let ids = try await enqueue(database, [
                NewJob(tenantID: acme, kind: "test.scoped", payload: #"{"mode": "complete"}"#, maxAttempts: 1),
                NewJob(tenantID: acme, kind: "test.scoped", payload: #"{"mode": "complete-then-fail"}"#, maxAttempts: 1),
                NewJob(tenantID: acme, kind: "test.scoped", payload: #"{"mode": "other-tenant"}"#, maxAttempts: 1),
            ])
            let seen = ScopeObservations()
            try await withWorker(database, testConfiguration(), handlers: [ScopedHandler(seen: seen), ScriptedHandler()]) { _ in
                try await eventually(database) { connection in
                    try connection.query("SELECT count(*) FROM encours.jobs WHERE kind = 'test.scoped' AND state IN ('completed', 'discarded')")
                        .decode(Int.self, row: 0, column: 0) == 3
                }
            }
            let observed = seen.all
            #expect(observed.allSatisfy { $0.role == "encours_tenant" && $0.tenant == String(acme) }, "\(observed)")
            #expect(observed.allSatisfy { $0.visibleTenants == [acme] }, "only its own tenant's jobs are visible: \(observed)")
            #expect(try await fetchJob(database, ids[0]).state == .completed)
            #expect(try await fetchJob(database, ids[1]).state == .discarded, "the completion rolled back with the failure")
            let other = try await fetchJob(database, ids[2])
            #expect(other.state == .discarded)
            #expect(other.errors.last?.error.contains("cannot enqueue a job for tenant \(beta)") == true, "\(other.errors)")
            let effects = try await database.withConnection { try $0.query("SELECT job_id FROM public.effects").rows.map { try $0.decode(0, as: Int64.self) } }
            #expect(effects == [ids[0]], "only the committed transaction's effect is there")
        }
    }

    @Test("a transaction of an attempt that lost its lease, or whose job was cancelled, writes nothing")
    func transactionRefusedWithoutLease() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await makeEffectsTable(database)
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop"), NewJob(tenantID: tenant, kind: "noop")])
            let jobs = try await claim(database, worker: "W", limit: 2)
            _ = try await lapseAndRescue(database, ids[0])
            _ = try await database.withConnection { try JobQueue.cancel(id: ids[1], on: $0) }
            let pool = PostgresPool(connectionString: database.url, size: 1)
            for job in jobs.sorted(by: { $0.id < $1.id }) {
                let held = HeldJob(id: job.id, attempt: job.attempt, tenantID: job.tenantID, kind: job.kind, lease: .seconds(30), claimedAt: .now)
                let context = JobContext(job: job, logger: quietLogger, pool: pool, workerID: "W", lease: .seconds(30), attempt: held)
                do {
                    try await context.transaction { transaction in
                        try transaction.connection.query("INSERT INTO public.effects (job_id) VALUES ($1)", [transaction.job.id])
                        transaction.completeJob()
                    }
                    Issue.record("job \(job.id)'s transaction ran without its lease")
                } catch let error as QueueError {
                    #expect(error.code == (job.id == ids[0] ? .leaseLost : .cancelled), "\(error)")
                }
            }
            await pool.close()
            #expect(try await database.integer("SELECT count(*) FROM public.effects") == 0)
        }
    }
}

/// What a scoped handler saw inside its transaction.
final class ScopeObservations: Sendable {
    struct Observation: Sendable { var role: String; var tenant: String; var visibleTenants: Set<Int64> }
    private let observations = Mutex<[Observation]>([])
    func add(_ observation: Observation) { observations.withLock { $0.append(observation) } }
    var all: [Observation] { observations.withLock { $0 } }
}

/// `test.scoped`: looks at its scope, writes an effect, then completes, fails after completing,
/// or tries to enqueue for another tenant (mode in the payload).
struct ScopedHandler: JobHandler {
    let kind = "test.scoped"
    let seen: ScopeObservations
    struct Failure: Error {}

    func handle(_ context: JobContext) async throws {
        let mode = try JobPayload(context.job.payload).string("mode") ?? ""
        let seen = self.seen
        try await context.transaction { transaction in
            let connection = transaction.connection
            let row = try connection.query("SELECT current_user::text, encours.current_tenant_id()::text").rows[0]
            let visible = Set(try connection.query("SELECT DISTINCT tenant_id FROM encours.jobs").rows.map { try $0.decode(0, as: Int64.self) })
            seen.add(.init(role: try row.decode(0), tenant: try row.decode(1), visibleTenants: visible))
            try connection.query("INSERT INTO public.effects (job_id) VALUES ($1)", [transaction.job.id])
            switch mode {
            case "other-tenant":
                _ = try transaction.enqueue([NewJob(tenantID: transaction.job.tenantID + 1, kind: "noop")])
            case "complete-then-fail":
                transaction.completeJob()
                throw Failure()
            default:
                transaction.completeJob()
            }
        }
    }
}

/// Reads in `JobContext.read`, then tries to write there.
struct ReadingHandler: JobHandler {
    let kind = "test.read"
    let seen: ScopeObservations

    func handle(_ context: JobContext) async throws {
        let seen = self.seen
        try await context.read { connection in
            let row = try connection.query("SELECT current_user::text, encours.current_tenant_id()::text").rows[0]
            let visible = Set(try connection.query("SELECT DISTINCT tenant_id FROM encours.jobs").rows.map { try $0.decode(0, as: Int64.self) })
            seen.add(.init(role: try row.decode(0), tenant: try row.decode(1), visibleTenants: visible))
        }
        // A write inside a read is refused by PostgreSQL, and the attempt fails.
        let id = context.job.id
        try await context.read { connection in
            _ = try connection.query("INSERT INTO public.effects (job_id) VALUES ($1)", [id])
        }
    }
}

@Suite("JobContext.read")
struct JobContextReadTests {
    @Test("a read runs as the tenant role in the job's own scope, and cannot write")
    func readIsScopedAndReadOnly() async throws {
        try await TestDatabase.with { database in
            let acme = try await makeTenant(database, "acme")
            let beta = try await makeTenant(database, "beta")
            try await makeEffectsTable(database)
            _ = try await enqueue(database, [NewJob(tenantID: beta, kind: "noop", payload: #"{"sleep_ms": 60000}"#)])
            let ids = try await enqueue(database, [NewJob(tenantID: acme, kind: "test.read", maxAttempts: 1)])
            let seen = ScopeObservations()
            try await withWorker(database, testConfiguration(), handlers: [ReadingHandler(seen: seen), ScriptedHandler()]) { _ in
                try await eventually(database) { try JobQueue.job(id: ids[0], on: $0)?.state == .discarded }
            }
            #expect(seen.all.map(\.role) == ["encours_tenant"])
            #expect(seen.all.map(\.tenant) == [String(acme)])
            #expect(seen.all.first?.visibleTenants == [acme])
            let job = try await fetchJob(database, ids[0])
            #expect(job.errors.last?.error.contains("read-only transaction") == true, "\(job.errors)")
            #expect(try await database.integer("SELECT count(*) FROM public.effects") == 0)
        }
    }
}

/// `test.long`: one transaction that writes an effect, sleeps on the server for
/// `sleep_seconds`, and completes the job with it.
struct LongTransactionHandler: JobHandler {
    let kind = "test.long"

    func handle(_ context: JobContext) async throws {
        let seconds = try JobPayload(context.job.payload).integer("sleep_seconds") ?? 1
        try await context.transaction { transaction in
            try transaction.connection.query("INSERT INTO public.effects (job_id) VALUES ($1)", [transaction.job.id])
            try transaction.connection.query("SELECT pg_sleep($1::double precision)", [seconds])
            transaction.completeJob()
        }
    }
}

/// Holds a handler's thread between two statements until released.
final class StallSwitch: Sendable {
    private let on = Mutex(true)
    var isOn: Bool { on.withLock { $0 } }
    func release() { on.withLock { $0 = false } }
}

@Suite("Handler transactions longer than the lease, and stalled ones")
struct LongTransactionTests {
    @Test("a transaction three times longer than the lease completes once: heartbeats renew the lease meanwhile and no rescuer takes the job")
    func longTransactionCompletes() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await makeEffectsTable(database)
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "test.long", payload: #"{"sleep_seconds": 9}"#, maxAttempts: 1)])
            let rescued = Mutex(0)
            try await withWorker(database, testConfiguration(lease: .seconds(3)), handlers: [LongTransactionHandler()]) { _ in
                // Until the transaction sleeps on the server.
                try await eventually(database) { connection in
                    try connection.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%' AND state = 'active'")
                        .decode(Int.self, row: 0, column: 0) == 1
                }
                let first = try await database.withConnection {
                    try $0.query("SELECT extract(epoch FROM lease_expires_at)::float8 FROM encours.jobs WHERE id = $1", [ids[0]]).decode(Double.self, row: 0, column: 0)
                }
                // Rescuers racing the transaction find nothing lapsed, and the lease moves on.
                try await eventually(database, timeout: .seconds(20)) { connection in
                    let outcome = try QueueStatements.rescueExpired(limit: 10, policy: noRetry, on: connection)
                    rescued.withLock { $0 += outcome.total }
                    let lease = try connection.query("SELECT extract(epoch FROM lease_expires_at)::float8 FROM encours.jobs WHERE id = $1", [ids[0]])
                        .first.map { try $0.decode(0, as: Double?.self) } ?? nil
                    return lease.map { $0 > first + 3 } ?? true
                }
                try await eventually(database, timeout: .seconds(30)) { try JobQueue.job(id: ids[0], on: $0)?.state.isFinal == true }
            }
            let job = try await fetchJob(database, ids[0])
            #expect(job.state == .completed, "\(job.errors)")
            #expect(job.attempt == 1)
            #expect(job.errors.isEmpty, "\(job.errors)")
            #expect(rescued.withLock { $0 } == 0)
            #expect(try await database.integer("SELECT count(*) FROM public.effects") == 1)
        }
    }

    @Test("a transaction left idle longer than the lease (its worker stopped) is ended by PostgreSQL: the job is unlocked, nothing commits")
    func stalledTransactionIsEnded() async throws {
        try await stalledTransaction(busy: false)
    }

    @Test("a transaction stopped in a statement (a COPY, a lock wait) outliving its lease is ended by the rescuer, which then takes the job")
    func busyStalledTransactionIsEnded() async throws {
        try await stalledTransaction(busy: true)
    }

    /// A job's transaction stalls after its first write: idle between two statements, or busy in
    /// one that does not end (as a worker stopped mid-COPY leaves it).
    private func stalledTransaction(busy: Bool) async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await makeEffectsTable(database)
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop")])
            let job = try #require(try await claim(database, worker: "W", limit: 1).first)
            let lease = Duration.seconds(2)
            let held = HeldJob(id: job.id, attempt: job.attempt, tenantID: job.tenantID, kind: job.kind, lease: lease, claimedAt: .now)
            let pool = PostgresPool(connectionString: database.url, size: 1)
            let context = JobContext(job: job, logger: quietLogger, pool: pool, workerID: "W", lease: lease, attempt: held)
            let (startedStream, started) = AsyncStream<Void>.makeStream()
            let stalled = StallSwitch()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        try await context.transaction { transaction in
                            try transaction.connection.query("INSERT INTO public.effects (job_id) VALUES ($1)", [transaction.job.id])
                            started.yield()
                            if busy {
                                try transaction.connection.query("SELECT pg_sleep(60)")
                            } else {
                                while stalled.isOn { Thread.sleep(forTimeInterval: 0.05) }
                            }
                            try transaction.connection.query("SELECT 1")
                            transaction.completeJob()
                        }
                        Issue.record("a stalled transaction committed")
                    } catch let error as PostgresError {
                        #expect(error.isConnectionError, "\(error)")
                    }
                }
                for await _ in startedStream { break }
                let name = JobTransaction.sessionName(job)
                if busy {
                    // The lease lapses; the first pass skips the locked job but ends its session.
                    let first = try await lapseAndRescue(database, ids[0])
                    #expect(first.total == 0)
                    #expect(first.endedSessions == 1)
                    try await eventually(database, timeout: .seconds(15)) { connection in
                        try QueueStatements.rescueExpired(limit: 10, policy: noRetry, on: connection).retried == 1
                    }
                } else {
                    // The lease (30 s, from the claim) still holds: nobody rescues, the server alone ends it.
                    try await eventually(database, timeout: .seconds(15)) { connection in
                        try connection.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1", [name])
                            .decode(Int.self, row: 0, column: 0) == 0
                    }
                    let unlocked = try await database.withConnection { connection in
                        try connection.query("SELECT id FROM encours.jobs WHERE id = $1 FOR UPDATE NOWAIT", [ids[0]]).count
                    }
                    #expect(unlocked == 1)
                    _ = try await lapseAndRescue(database, ids[0])
                }
                stalled.release()
                try await group.waitForAll()
            }
            await pool.close()
            let rescued = try await fetchJob(database, ids[0])
            #expect(rescued.state == .retryable || rescued.state == .available)
            #expect(rescued.errors.last?.error.contains("worker lost") == true, "\(rescued.errors)")
            #expect(try await database.integer("SELECT count(*) FROM public.effects") == 0)
        }
    }
}

/// `test.record-after-loss`: writes its effect with `transaction(retryingWhileUnreachable:)`; on
/// the first run of that body its connection is terminated by the server mid-transaction (mode
/// `lose`), or the body fails with a SQL error (mode `sql-error`).
struct RecordAfterLossHandler: JobHandler {
    let kind = "test.record-after-loss"
    let databaseURL: String
    let runs: RunCounter

    func handle(_ context: JobContext) async throws {
        let mode = try JobPayload(context.job.payload).string("mode") ?? "lose"
        let (url, runs) = (databaseURL, self.runs)
        try await context.transaction(retryingWhileUnreachable: true) { transaction in
            let run = runs.next()
            try transaction.connection.query("INSERT INTO public.effects (job_id) VALUES ($1)", [transaction.job.id])
            if mode == "sql-error" { try transaction.connection.query("SELECT 1 / 0") }
            if run == 1 {
                let pid = try transaction.connection.query("SELECT pg_backend_pid()").decode(Int.self, row: 0, column: 0)
                let admin = try PostgresConnection(connectionString: url)
                defer { admin.close() }
                try admin.query("SELECT pg_terminate_backend($1, 5000)", [pid])
                try transaction.connection.query("SELECT 1")
            }
            transaction.completeJob()
        }
    }
}

/// Counts the runs of a body.
final class RunCounter: Sendable {
    private let count = Mutex(0)
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
    var value: Int { count.withLock { $0 } }
}

@Suite("Recording an outcome through a lost connection")
struct RecordingThroughLossTests {
    @Test("a write that loses its connection is run again on a fresh one and commits once with the completion; a SQL error is not retried")
    func retriesWhileUnreachable() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await makeEffectsTable(database)
            let lost = try await enqueue(database, [NewJob(tenantID: tenant, kind: "test.record-after-loss", payload: #"{"mode": "lose"}"#, maxAttempts: 1)])
            let runs = RunCounter()
            let handler = RecordAfterLossHandler(databaseURL: database.url, runs: runs)
            try await withWorker(database, testConfiguration(), handlers: [handler]) { _ in
                try await eventually(database) { try JobQueue.job(id: lost[0], on: $0)?.state.isFinal == true }
            }
            let job = try await fetchJob(database, lost[0])
            #expect(job.state == .completed, "\(job.errors)")
            #expect(job.attempt == 1)
            #expect(runs.value == 2, "the body ran again after the lost connection")
            #expect(try await database.integer("SELECT count(*) FROM public.effects") == 1)

            let failing = try await enqueue(database, [NewJob(tenantID: tenant, kind: "test.record-after-loss", payload: #"{"mode": "sql-error"}"#, maxAttempts: 1)])
            let sqlRuns = RunCounter()
            try await withWorker(database, testConfiguration(), handlers: [RecordAfterLossHandler(databaseURL: database.url, runs: sqlRuns)]) { _ in
                try await eventually(database) { try JobQueue.job(id: failing[0], on: $0)?.state.isFinal == true }
            }
            let failed = try await fetchJob(database, failing[0])
            #expect(failed.state == .discarded)
            #expect(failed.errors.last?.error.contains("division by zero") == true, "\(failed.errors)")
            #expect(sqlRuns.value == 1)
            #expect(try await database.integer("SELECT count(*) FROM public.effects") == 1)
        }
    }
}
