import EncoursPostgres
import EncoursTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import EncoursQueue

/// When each job's handler saw its task cancelled.
final class CancellationClock: Sendable {
    private let times = Mutex<[Int64: Date]>([:])
    func record(_ id: Int64) { times.withLock { $0[id] = Date() } }
    func time(_ id: Int64) -> Date? { times.withLock { $0[id] } }
}

/// `test.long`: sleeps until cancelled (at most a minute), noting when.
struct LongHandler: JobHandler {
    let kind = "test.long"
    let clock: CancellationClock
    func handle(_ context: JobContext) async throws {
        do {
            try await Task.sleep(for: .seconds(60))
        } catch {
            clock.record(context.job.id)
            throw error
        }
    }
}

@Suite("Liveness: local lease deadlines, unrecorded results, drain, health")
struct LivenessTests {
    @Test("a worker that cannot renew its leases stops its jobs before the leases lapse, and records nothing for them")
    func localLeaseDeadline() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let id = try #require(try await enqueue(database, [NewJob(tenantID: tenant, kind: "test.long")]).first)
            let clock = CancellationClock()
            let logs = LogCapture()
            // A 6 s lease gives the worker a 1 s margin (a sixth of the lease): on a loaded 2-core CI
            // machine, waking the deadline check and cancelling the handler took longer than the
            // 0.5 s margin of a 3 s lease.
            var configuration = testConfiguration(lease: .seconds(6))
            configuration.finalRecordTimeout = .milliseconds(500)
            try await withWorker(database, configuration, handlers: [LongHandler(clock: clock)], logger: logs.logger) { _ in
                try await eventually(database) { try JobQueue.job(id: id, on: $0)?.state == .running }
                // Let a heartbeat renew it, then read the lease as the server last set it, and cut the database off.
                let renewed = try await fetchJob(database, id).leaseExpiresAt
                try await eventually(database, timeout: .seconds(8)) { try JobQueue.job(id: id, on: $0)?.leaseExpiresAt != renewed }
                let lease = try #require(try await fetchJob(database, id).leaseExpiresAt)
                try await database.cutOff()
                let deadline = ContinuousClock.now + .seconds(15)
                while clock.time(id) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                let stopped = try #require(clock.time(id), "the job was never stopped")
                try await database.reopen()
                // A heartbeat may have landed between reading the lease and the cut: the server's own
                // last lease, read back now (nothing renews a stopped job), is the one that counts.
                let lastLease = max(lease, (try? await fetchJob(database, id).leaseExpiresAt ?? lease) ?? lease)
                #expect(stopped < lastLease, "stopped \(stopped.timeIntervalSince(lastLease)) s after its lease lapsed")
            }
            #expect(logs.contains("could not renew a job's lease; stopping it before the lease lapses"))
            #expect(logs.contains("job stopped without recording its result"))
            // The stopped attempt recorded nothing: the only entry is the rescue's, once the lease lapsed.
            let job = try await fetchJob(database, id)
            #expect(job.errors.allSatisfy { $0.error.hasPrefix("worker lost") }, "\(job.errors)")
        }
    }

    @Test("finished jobs whose result is not recorded yet keep their lease renewed")
    func unrecordedJobsStayLeased() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let id = try #require(try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop")]).first)
            let job = try #require(try await claim(database, worker: "W", limit: 1, lease: "2 seconds").first)
            let held = HeldJobs()
            let entry = HeldJob(id: id, attempt: job.attempt, tenantID: tenant, kind: "noop", lease: .seconds(30), claimedAt: .now)
            held.claimed([entry], reserved: 0)
            held.handlerFinished(entry)
            let session = database.session()
            let health = DatabaseHealth(session: session, interval: .seconds(1), staleness: .seconds(3), logger: quietLogger)
            let keeper = LeaseKeeper(session: session, held: held, workerID: "W", timings: LeaseTimings(lease: .seconds(30)), health: health, logger: quietLogger)
            let before = try #require(try await fetchJob(database, id).leaseExpiresAt)
            try await keeper.renew()
            let after = try #require(try await fetchJob(database, id).leaseExpiresAt)
            #expect(after.timeIntervalSince(before) > 20, "lease moved from \(before) to \(after)")
            await session.close()
        }
    }

    @Test("a result the fence drops is logged as stale, with its job id")
    func staleResultsAreLogged() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let id = try #require(try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", payload: #"{"ignore_cancel_ms": 1500}"#)]).first)
            let logs = LogCapture()
            try await withWorker(database, testConfiguration(lease: .seconds(30)), logger: logs.logger) { _ in
                try await eventually(database) { try JobQueue.job(id: id, on: $0)?.state == .running }
                // Another worker takes the job over while this one's handler still runs (it ignores
                // cancellation), as after a pause: its result must not be written over the new run.
                try await database.withConnection { connection in
                    _ = try connection.query("UPDATE encours.jobs SET worker_id = 'usurper', attempt = attempt + 1 WHERE id = $1", [id])
                }
                // The handler ends 1.5 s in, long before the next heartbeat (10 s): its record is fenced out.
                try await eventually(database, timeout: .seconds(10)) { _ in logs.contains("dropped results") }
            }
            let job = try await fetchJob(database, id)
            #expect(job.state == .running)
            #expect(job.workerID == "usurper")
            let dropped = try #require(logs.all.first { $0.message.contains("dropped results") })
            #expect(dropped.metadata["job.ids"] == String(id))
        }
    }

    @Test("shutdown with the database gone: the worker says which results it could not record, and --drain later rescues them")
    func strandedWorkIsReportedAndRescued() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            try await enqueueCopies(database, NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": 1500}"#), count: 6)
            let logs = LogCapture()
            // Leases of 6 s: the 1.5 s jobs finish long before their local deadline.
            var configuration = testConfiguration(lease: .seconds(6))
            configuration.finalRecordTimeout = .milliseconds(500)
            let started = ContinuousClock.now
            try await withWorker(database, configuration, logger: logs.logger) { _ in
                try await eventually(database) { connection in
                    try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'running'").decode(Int.self, row: 0, column: 0) == 6
                }
                try await database.cutOff()
                // The handlers finish while nothing can be written.
                try await Task.sleep(for: .milliseconds(1800))
            }
            #expect(ContinuousClock.now - started < .seconds(20))
            try await database.reopen()
            let report = try #require(logs.all.first { $0.message.contains("could not record the results of finished jobs") })
            #expect(report.metadata["jobs"] == "6", "\(report.metadata)")
            #expect(report.metadata["job.ids"]?.split(separator: ",").count == 6)
            #expect(try await stateCount(database, .running) == 6, "their leases still run")

            // Once their leases lapsed, a drain worker rescues them, and runs them.
            try await eventually(database, timeout: .seconds(15)) { connection in
                try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'running' AND lease_expires_at < now()")
                    .decode(Int.self, row: 0, column: 0) == 6
            }
            var drain = testConfiguration(lease: .seconds(3), drain: true)
            drain.finalRecordTimeout = .seconds(5)
            try await withWorker(database, drain) { _ in
                try await eventually(database, timeout: .seconds(20)) { connection in
                    try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'completed'").decode(Int.self, row: 0, column: 0) == 6
                }
            }
            let attempts = try await database.integer("SELECT min(attempt) FROM encours.jobs")
            #expect(attempts == 2)
        }
    }

    @Test("the health report fails within a few seconds of losing the database, and recovers")
    func healthFollowsTheDatabase() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            var configuration = testConfiguration()
            configuration.healthCheckInterval = .milliseconds(250)
            configuration.healthStaleness = .seconds(2)
            try await withWorker(database, configuration) { worker in
                let healthyBy = ContinuousClock.now + .seconds(10)
                while !worker.healthReport().healthy, ContinuousClock.now < healthyBy { try await Task.sleep(for: .milliseconds(50)) }
                #expect(worker.healthReport().healthy)
                try await database.cutOff()
                let cut = ContinuousClock.now
                while worker.healthReport().healthy, ContinuousClock.now - cut < .seconds(15) { try await Task.sleep(for: .milliseconds(50)) }
                let noticed = ContinuousClock.now - cut
                #expect(!worker.healthReport().healthy)
                #expect(noticed < .seconds(6), "unhealthy only after \(noticed)")
                try await database.reopen()
                let back = ContinuousClock.now + .seconds(15)
                while !worker.healthReport().healthy, ContinuousClock.now < back { try await Task.sleep(for: .milliseconds(50)) }
                #expect(worker.healthReport().healthy, "\(worker.healthReport().detail)")
            }
        }
    }
}
