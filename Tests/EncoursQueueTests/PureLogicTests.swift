import Foundation
import Testing

@testable import EncoursQueue

@Suite("Pure queue logic (no I/O)")
struct PureLogicTests {
    @Test("backoff doubles per attempt, stays within the jitter band and is capped")
    func backoff() {
        let policy = RetryPolicy(base: .seconds(10), maximum: .seconds(100), jitter: 0.1)
        #expect(policy.delay(afterAttempt: 1, unitRandom: 0.5) == .seconds(10))
        #expect(policy.delay(afterAttempt: 2, unitRandom: 0.5) == .seconds(20))
        #expect(policy.delay(afterAttempt: 3, unitRandom: 0.5) == .seconds(40))
        #expect(policy.delay(afterAttempt: 10, unitRandom: 0.5) == .seconds(100))
        #expect(policy.delay(afterAttempt: 1, unitRandom: 0) == .seconds(9))
        #expect(policy.delay(afterAttempt: 1, unitRandom: 0.999_999) <= .seconds(11))
        #expect(policy.delay(afterAttempt: 1, unitRandom: 0.999_999) > .milliseconds(10_999))
        let spread = Set((0..<50).map { _ in policy.delay(afterAttempt: 2, unitRandom: Double.random(in: 0..<1)) })
        #expect(spread.count > 1, "jitter must vary delays")
    }

    @Test("an attempt's outcome decides the next state; max_attempts leads to discarded")
    func resolutions() {
        let policy = RetryPolicy(base: .seconds(1), maximum: .seconds(60), jitter: 0)
        let failedEarly = AttemptResolution.resolve(outcome: .failed("boom"), attempt: 1, maxAttempts: 3, policy: policy, unitRandom: 0.5)
        #expect(failedEarly.state == .retryable)
        #expect(failedEarly.retryDelay == .seconds(1))
        #expect(failedEarly.error == "boom")
        let failedLast = AttemptResolution.resolve(outcome: .failed("boom"), attempt: 3, maxAttempts: 3, policy: policy, unitRandom: 0.5)
        #expect(failedLast.state == .discarded)
        #expect(failedLast.retryDelay == nil)
        #expect(AttemptResolution.resolve(outcome: .succeeded, attempt: 1, maxAttempts: 1, policy: policy, unitRandom: 0).state == .completed)
        #expect(AttemptResolution.resolve(outcome: .cancelled, attempt: 1, maxAttempts: 5, policy: policy, unitRandom: 0).state == .cancelled)
        let released = AttemptResolution.resolve(outcome: .released, attempt: 2, maxAttempts: 2, policy: policy, unitRandom: 0)
        #expect(released.state == .available)
        #expect(released.uncountsAttempt)
    }

    @Test("lease timings: a dead leader's jobs are rescued within twice the lease; a job is stopped before its lease lapses")
    func leaseTimings() {
        for seconds in [1, 2, 3, 30, 300, 3600] {
            let timings = LeaseTimings(lease: .seconds(seconds))
            #expect(timings.heartbeatInterval * 2 < timings.lease, "two heartbeats fit in a lease")
            #expect(timings.worstCaseRescue < timings.lease * 2, "lease \(seconds) s: worst rescue \(timings.worstCaseRescue)")
            // A job whose renewals fail is stopped after missing at least two heartbeats, and
            // checked often enough to be stopped before the lease lapses.
            #expect(timings.lease - timings.localDeadlineMargin > timings.heartbeatInterval * 2)
            #expect(timings.deadlineCheckInterval < timings.localDeadlineMargin)
            // The maintainer renews its leadership several times per TTL.
            #expect(min(.seconds(1), timings.rescueInterval, timings.leaderTTL / 3) * 2 < timings.leaderTTL)
        }
    }

    @Test("the tenant cursor rotates through tenants and wraps around")
    func tenantCursor() {
        #expect(JobProducer.nextCursor(after: 0, claimedTenants: [3, 5, 9]) == 9)
        #expect(JobProducer.nextCursor(after: 5, claimedTenants: [7, 9, 1, 2]) == 2)
        #expect(JobProducer.nextCursor(after: 4, claimedTenants: []) == 4)
    }

    @Test("a wake signal sent before the wait is kept; a timeout returns false")
    func wakeSignal() async {
        let signal = WakeSignal()
        signal.signal()
        signal.signal()
        #expect(await signal.wait(timeout: .seconds(5)))
        #expect(await signal.wait(timeout: .milliseconds(30)) == false)
        async let woken = signal.wait(timeout: .seconds(10))
        try? await Task.sleep(for: .milliseconds(20))
        signal.signal()
        #expect(await woken)
    }

    @Test("payload validation refuses anything but a JSON object of at most 1 MiB without NUL")
    func payloadValidation() throws {
        try NewJob(tenantID: 1, kind: "noop", payload: #"{"a":1, "b": [{"c": "ok"}]}"#).validate()
        for payload in ["[1]", "\"text\"", "12", "{broken", "", #"{"a": "x\u0000y"}"#, #"{"a\u0000": 1}"#, #"{"a": [{"b": "\u0000"}]}"#] {
            #expect(throws: QueueError.self, "\(payload)") { try NewJob(tenantID: 1, kind: "noop", payload: payload).validate() }
        }
        let big = #"{"a": ""# + String(repeating: "x", count: JobPayload.maximumBytes) + #""}"#
        do {
            try NewJob(tenantID: 1, kind: "noop", payload: big).validate()
            Issue.record("a payload over 1 MiB was accepted")
        } catch {
            #expect(error.message.contains("limit is 1048576"), "\(error.message)")
        }
        // As PostgreSQL gives it back (a space after each , and :), an accepted payload may be
        // larger than the limit: a handler still reads it.
        let spread = "{\"ids\": [" + Array(repeating: "7", count: 400_000).joined(separator: ", ") + "]}"
        #expect(spread.utf8.count > JobPayload.maximumBytes)
        #expect(try JobPayload(stored: spread).integers("ids")?.count == 400_000)
        #expect(throws: QueueError.self) { try JobPayload(spread) }
        do {
            try NewJob(tenantID: 1, kind: "noop", payload: #"{"a": {"b": "x\u0000"}}"#).validate()
        } catch {
            #expect(error.message.contains(".a.b"), "names the field: \(error.message)")
        }
        #expect(throws: QueueError.self) { try NewJob(tenantID: 1, kind: "noop", priority: 5).validate() }
        #expect(throws: QueueError.self) { try NewJob(tenantID: 1, kind: "noop", maxAttempts: 100_000).validate() }
        #expect(throws: QueueError.self) { try NewJob(tenantID: 1, kind: "noop", uniqueKey: String(repeating: "k", count: 513)).validate() }
        let payload = try JobPayload(#"{"n": 5, "s": "7", "t": "text", "b": true, "z": null}"#)
        #expect(try payload.integer("n") == 5)
        #expect(try payload.integer("s") == 7)
        #expect(try payload.integer("z") == nil)
        #expect(try payload.bool("b") == true)
        #expect(throws: QueueError.self) { try payload.integer("t") }
        #expect(throws: QueueError.self) { try payload.string("n") }
    }

    @Test("slots: claims never reserve more than the concurrency, and stop while the unrecorded backlog is full")
    func slotReservations() {
        let held = HeldJobs()
        let lease = Duration.seconds(30)
        #expect(held.reserve(concurrency: 10, batch: 4, threshold: 2, maximumUnrecorded: 3) == 4)
        #expect(held.reserve(concurrency: 10, batch: 4, threshold: 2, maximumUnrecorded: 3) == 4)
        #expect(held.reserve(concurrency: 10, batch: 4, threshold: 2, maximumUnrecorded: 3) == 2)
        #expect(held.reserve(concurrency: 10, batch: 4, threshold: 2, maximumUnrecorded: 3) == 0, "all 10 slots reserved")
        let jobs = (1...4).map { HeldJob(id: Int64($0), attempt: 1, tenantID: 1, kind: "noop", lease: lease, claimedAt: .now) }
        held.claimed(jobs, reserved: 4)
        held.claimed([], reserved: 4)
        held.claimed([], reserved: 2)
        #expect(held.runningCount == 4)
        for job in jobs.prefix(3) { held.handlerFinished(job) }
        #expect(held.unrecordedCount == 3)
        #expect(held.reserve(concurrency: 10, batch: 4, threshold: 2, maximumUnrecorded: 3) == 0, "the unrecorded backlog is full")
        held.release([1])
        #expect(held.reserve(concurrency: 10, batch: 4, threshold: 2, maximumUnrecorded: 3) == 4)
    }

    @Test("a held job: the first stop reason wins, a finished job cannot be stopped, renewals never move the deadline back")
    func heldJob() {
        let start = ContinuousClock.now
        let job = HeldJob(id: 1, attempt: 1, tenantID: 1, kind: "noop", lease: .seconds(30), claimedAt: start)
        #expect(job.deadline == start + .seconds(30))
        job.renewed(at: start + .seconds(10))
        #expect(job.deadline == start + .seconds(40))
        job.renewed(at: start + .seconds(5))
        #expect(job.deadline == start + .seconds(40))
        #expect(job.stop(.cancelRequested))
        #expect(!job.stop(.leaseLost))
        #expect(job.stopReason == .cancelRequested)
        let finished = HeldJob(id: 2, attempt: 1, tenantID: 1, kind: "noop", lease: .seconds(30), claimedAt: start)
        finished.finishRunning()
        #expect(!finished.stop(.leaseLost))
        #expect(finished.stopReason == nil)
    }
}
