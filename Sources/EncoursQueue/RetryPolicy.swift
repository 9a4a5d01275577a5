/// Exponential backoff with jitter: the delay before attempt n+1 after attempt n failed.
///
/// delay = min(maximum, base × 2^(n−1)) × (1 ± jitter), so with the defaults
/// (base 15 s, jitter 10 %) a job waits about 15 s, 30 s, 1 min, 2 min, ... capped at 6 hours.
public struct RetryPolicy: Sendable, Hashable {
    /// The delay after the first failed attempt.
    public var base: Duration
    /// The longest delay.
    public var maximum: Duration
    /// The random spread, as a fraction of the delay (0.1 = ±10 %).
    public var jitter: Double

    public init(base: Duration = .seconds(15), maximum: Duration = .seconds(6 * 3600), jitter: Double = 0.1) {
        self.base = base
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The delay after failed attempt `attempt` (1-based); `unitRandom` is a number in [0, 1).
    public func delay(afterAttempt attempt: Int, unitRandom: Double) -> Duration {
        let exponent = max(0, min(attempt - 1, 40))
        let baseSeconds = base / .seconds(1)
        let maximumSeconds = maximum / .seconds(1)
        let raw = min(maximumSeconds, baseSeconds * Double(1 << UInt64(min(exponent, 62))))
        let spread = 1 + jitter * (2 * unitRandom - 1)
        return .milliseconds(Int64((raw * spread * 1000).rounded()))
    }
}

/// How an attempt ended, as the worker reports it.
public enum AttemptOutcome: Sendable, Hashable {
    /// The handler returned.
    case succeeded
    /// The handler threw; the message is kept on the job.
    case failed(String)
    /// The job was cancelled while running (by `jobs cancel`).
    case cancelled
    /// The worker is shutting down and gave the job back before it finished.
    case released

    /// True when the handler threw (the only outcome whose resolution draws a random jitter).
    public var isFailure: Bool {
        if case .failed = self { return true }
        return false
    }
}

/// What becomes of a job after an attempt: the pure decision, applied by one SQL update.
public struct AttemptResolution: Sendable, Hashable {
    public var state: JobState
    /// Delay before the job may run again (retryable only).
    public var retryDelay: Duration?
    /// The error to append to the job's history.
    public var error: String?
    /// True when the attempt is given back and must not count.
    public var uncountsAttempt: Bool

    /// Decides the next state of a job whose counted attempt number `attempt` (of `maxAttempts`)
    /// ended with `outcome`.
    ///
    /// A cancel requested while the attempt ran wins over a failure or a release; that part is
    /// applied by the record statement, which sees the request as of the moment it writes.
    public static func resolve(
        outcome: AttemptOutcome, attempt: Int, maxAttempts: Int, policy: RetryPolicy, unitRandom: Double
    ) -> AttemptResolution {
        switch outcome {
        case .succeeded:
            return AttemptResolution(state: .completed, retryDelay: nil, error: nil, uncountsAttempt: false)
        case .cancelled:
            return AttemptResolution(state: .cancelled, retryDelay: nil, error: "cancelled while running", uncountsAttempt: false)
        case .released:
            return AttemptResolution(state: .available, retryDelay: nil, error: nil, uncountsAttempt: true)
        case .failed(let message):
            if attempt >= maxAttempts {
                return AttemptResolution(state: .discarded, retryDelay: nil, error: message, uncountsAttempt: false)
            }
            let delay = policy.delay(afterAttempt: attempt, unitRandom: unitRandom)
            return AttemptResolution(state: .retryable, retryDelay: delay, error: message, uncountsAttempt: false)
        }
    }
}

/// The timings that follow from a lease: heartbeats extend it well before it lapses, a worker
/// stops a job it could not renew before its lease can lapse, and the elected maintainer rescues
/// often enough that a dead worker's job is retried within twice the lease.
public struct LeaseTimings: Sendable, Hashable {
    /// How long a claimed job stays leased without a heartbeat.
    public var lease: Duration

    public init(lease: Duration) { self.lease = lease }

    /// Heartbeats every third of the lease: two can be missed before the lease lapses.
    public var heartbeatInterval: Duration { lease / 3 }
    /// After a failed heartbeat, the next try comes sooner.
    public var heartbeatRetryInterval: Duration { lease / 10 }
    /// A running job whose lease, as last renewed, has less than this left is stopped: its
    /// worker cannot renew it, and must not run it past the moment another worker may take it.
    public var localDeadlineMargin: Duration { lease / 6 }
    /// How often a worker checks its jobs' local deadlines.
    public var deadlineCheckInterval: Duration { min(lease / 12, .seconds(1)) }
    /// How long the maintainer's leadership lasts unless renewed: half the lease, 0.5 to 15 s.
    public var leaderTTL: Duration { max(.milliseconds(500), min(lease / 2, .seconds(15))) }
    /// The maintainer looks for lapsed leases every quarter lease.
    public var rescueInterval: Duration { lease / 4 }
    /// The latest a job held by a worker that died right after a heartbeat is rescued, when that
    /// worker was also the leader: its lease lapses, another worker takes over the leadership, then rescues.
    public var worstCaseRescue: Duration { lease + leaderTTL + rescueInterval }
}
