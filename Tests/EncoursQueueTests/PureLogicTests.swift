import EncoursAdmin
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

    @Test("lease timings rescue a dead worker's job within twice the lease")
    func leaseTimings() {
        for seconds in [1, 2, 30, 300] {
            let timings = LeaseTimings(lease: .seconds(seconds))
            #expect(timings.heartbeatInterval * 2 < timings.lease, "two heartbeats fit in a lease")
            #expect(timings.worstCaseRescue < timings.lease * 2)
        }
    }

    @Test("the tenant cursor rotates through tenants and wraps around")
    func tenantCursor() {
        #expect(QueueWorker.nextCursor(after: 0, claimedTenants: [3, 5, 9]) == 9)
        #expect(QueueWorker.nextCursor(after: 5, claimedTenants: [7, 9, 1, 2]) == 2)
        #expect(QueueWorker.nextCursor(after: 4, claimedTenants: []) == 4)
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

    @Test("tenant settings are validated with a message naming the key and value")
    func tenantSettings() throws {
        try TenantSettings.validate(key: "max_concurrent_jobs", value: "4")
        try TenantSettings.validate(key: "max_concurrent_jobs", value: "none")
        try TenantSettings.validate(key: "recovery_indemnity_usd", value: "45.00")
        try TenantSettings.validate(key: "dunning_schedule", value: "0 7 * * 1-5")
        try TenantSettings.validate(key: "escalation_policy", value: #"{"tiers":[{"name":"account_manager","sla_days":5,"notify":"email:am@example.com"}]}"#)
        for (key, value) in [
            ("max_concurrent_jobs", "-1"), ("max_concurrent_jobs", "lots"), ("webhook_url", "ftp://x"),
            ("recovery_indemnity", "40.001"), ("dunning_schedule", "61 * * * *"), ("holidays", "de"),
            ("escalation_policy", #"{"tiers":[]}"#), ("timezone", "Mars/Olympus"), ("smtp_from", "nobody"),
            ("no_such_key", "1"),
        ] {
            do {
                try TenantSettings.validate(key: key, value: value)
                Issue.record("accepted \(key)=\(value)")
            } catch let error as AdminError {
                #expect(error.message.contains(key), "message names the key: \(error.message)")
                #expect(!error.message.contains("\n"))
            }
        }
    }

    @Test("payload validation refuses anything but a JSON object")
    func payloadValidation() throws {
        try NewJob(tenantID: 1, kind: "noop", payload: #"{"a":1}"#).validate()
        for payload in ["[1]", "\"text\"", "12", "{broken", ""] {
            #expect(throws: QueueError.self) { try NewJob(tenantID: 1, kind: "noop", payload: payload).validate() }
        }
        #expect(throws: QueueError.self) { try NewJob(tenantID: 1, kind: "noop", priority: 5).validate() }
    }
}
