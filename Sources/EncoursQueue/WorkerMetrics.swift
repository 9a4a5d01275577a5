import Metrics
import Synchronization

/// The worker's swift-metrics instruments (exported by whatever backend the process bootstraps).
///
/// - `encours_jobs_claimed_total`: jobs claimed.
/// - `encours_jobs_finished_total{kind, state}`: attempts ended, by the state they left the job in.
/// - `encours_job_duration_seconds{kind}`: handler run time.
/// - `encours_worker_running_jobs`: jobs running now.
/// - `encours_claim_duration_seconds`: claim round trips.
final class WorkerMetrics: Sendable {
    private let claimed = Counter(label: "encours_jobs_claimed_total")
    private let claimDuration = Timer(label: "encours_claim_duration_seconds")
    private let running = Gauge(label: "encours_worker_running_jobs")
    private let finished = Mutex<[String: Counter]>([:])
    private let durations = Mutex<[String: Timer]>([:])

    func recordClaim(count: Int, duration: Duration) {
        claimed.increment(by: Int64(count))
        claimDuration.recordNanoseconds(duration.nanoseconds)
    }

    func recordFinished(kind: String, state: JobState, duration: Duration) {
        let key = kind + "\u{0}" + state.rawValue
        let counter = finished.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "encours_jobs_finished_total", dimensions: [("kind", kind), ("state", state.rawValue)])
            counters[key] = counter
            return counter
        }
        counter.increment()
        let timer = durations.withLock { timers in
            if let timer = timers[kind] { return timer }
            let timer = Timer(label: "encours_job_duration_seconds", dimensions: [("kind", kind)])
            timers[kind] = timer
            return timer
        }
        timer.recordNanoseconds(duration.nanoseconds)
    }

    func recordRunning(_ count: Int) {
        running.record(count)
    }
}

extension Duration {
    /// Whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000
    }
}
