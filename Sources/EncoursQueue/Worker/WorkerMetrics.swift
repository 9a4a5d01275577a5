import EncoursPostgres
import Metrics

/// The worker's swift-metrics instruments (exported by whatever backend the process bootstraps).
///
/// - `encours_jobs_claimed_total`: jobs claimed.
/// - `encours_jobs_finished_total{kind, state}`: attempts ended, by the state they left the job in.
/// - `encours_job_duration_seconds{kind}`: handler run time.
/// - `encours_worker_running_jobs`: jobs running now.
/// - `encours_claim_duration_seconds`: claim round trips.
/// - `encours_job_results_dropped_total{reason}`: attempts whose result was not recorded.
/// - `encours_job_queue_wait_seconds{kind}`: from a job's due time (`run_at`) to its claim.
final class WorkerMetrics: Sendable {
    /// The instruments of one job kind, made once: looking them up per job would cost a lock
    /// and a string key per finished job.
    private struct KindInstruments: Sendable {
        let finished: [JobState: Counter]
        let duration: Timer
        let queueWait: Timer

        init(kind: String) {
            var finished: [JobState: Counter] = [:]
            for state in JobState.allCases {
                finished[state] = Counter(label: "encours_jobs_finished_total", dimensions: [("kind", kind), ("state", state.rawValue)])
            }
            self.finished = finished
            duration = Timer(label: "encours_job_duration_seconds", dimensions: [("kind", kind)])
            queueWait = Timer(label: "encours_job_queue_wait_seconds", dimensions: [("kind", kind)])
        }
    }

    private let claimed = Counter(label: "encours_jobs_claimed_total")
    private let claimDuration = Timer(label: "encours_claim_duration_seconds")
    private let running = Gauge(label: "encours_worker_running_jobs")
    private let droppedStale = Counter(label: "encours_job_results_dropped_total", dimensions: [("reason", "stale")])
    private let droppedLeaseLost = Counter(label: "encours_job_results_dropped_total", dimensions: [("reason", "lease_lost")])
    private let droppedUnrecorded = Counter(label: "encours_job_results_dropped_total", dimensions: [("reason", "unrecorded")])
    private let byKind: [String: KindInstruments]

    /// Instruments for the kinds this worker runs.
    init(kinds: [String]) {
        byKind = Dictionary(uniqueKeysWithValues: kinds.map { ($0, KindInstruments(kind: $0)) })
    }

    func recordClaim(_ jobs: [Job], duration: Duration) {
        claimed.increment(by: Int64(jobs.count))
        claimDuration.recordNanoseconds(duration.inNanoseconds)
        for job in jobs {
            guard let claimedAt = job.attemptedAt, let instruments = byKind[job.kind] else { continue }
            instruments.queueWait.recordNanoseconds(Int64(max(0, claimedAt.timeIntervalSince(job.runAt)) * 1e9))
        }
    }

    func recordFinished(kind: String, state: JobState, duration: Duration) {
        guard let instruments = byKind[kind] else { return }
        instruments.finished[state]?.increment()
        instruments.duration.recordNanoseconds(duration.inNanoseconds)
    }

    /// Results not recorded: `stale` (the fence dropped them), `lease_lost` (the job was stopped),
    /// `unrecorded` (the worker stopped before it could write them).
    func recordDropped(reason: String, count: Int) {
        let counter = reason == "stale" ? droppedStale : reason == "lease_lost" ? droppedLeaseLost : droppedUnrecorded
        counter.increment(by: Int64(count))
    }

    func recordRunning(_ count: Int) {
        running.record(count)
    }
}
