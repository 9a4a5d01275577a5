import Synchronization

/// Why a running job is being stopped.
enum StopReason: Sendable, Equatable {
    /// `jobs cancel`: the job ends `cancelled`.
    case cancelRequested
    /// The grace period after SIGTERM ran out: the job is released (made available again).
    case shutdown
    /// Its lease could not be renewed (or was taken over): its result must not be recorded.
    case leaseLost
}

/// A job this worker holds a lease on: from its claim until its result is recorded (or dropped).
final class HeldJob: Sendable {
    /// Where the attempt is.
    enum Phase: Sendable, Equatable {
        /// The handler is running.
        case running
        /// The handler returned; its record waits for the completer.
        case finished
    }

    /// The job's task while it runs. Used only under the lock, and detached before the
    /// task returns, so it is never used after the task ended.
    private struct TaskHandle: @unchecked Sendable {
        let task: UnsafeCurrentTask
    }

    private struct State {
        var phase = Phase.running
        var reason: StopReason?
        var task: TaskHandle?
        /// When the lease, as last renewed, lapses by this process's clock.
        var deadline: ContinuousClock.Instant
        /// A transaction of the attempt committed the job's completion.
        var completedInTransaction = false
    }

    let id: Int64
    let attempt: Int
    let tenantID: Int64
    let kind: String
    private let lease: Duration
    private let state: Mutex<State>

    /// A job claimed by a statement sent at `claimedAt`: its lease lapses no sooner than `claimedAt + lease`.
    init(id: Int64, attempt: Int, tenantID: Int64, kind: String, lease: Duration, claimedAt: ContinuousClock.Instant) {
        self.id = id
        self.attempt = attempt
        self.tenantID = tenantID
        self.kind = kind
        self.lease = lease
        self.state = Mutex(State(deadline: claimedAt + lease))
    }

    var phase: Phase { state.withLock { $0.phase } }
    var deadline: ContinuousClock.Instant { state.withLock { $0.deadline } }

    /// Why the job was stopped, if it was.
    var stopReason: StopReason? { state.withLock { $0.reason } }

    /// True once a transaction of this attempt committed the job's completion.
    var completedInTransaction: Bool { state.withLock { $0.completedInTransaction } }

    /// A transaction of this attempt committed the job's completion: nothing is left to record.
    func markCompletedInTransaction() { state.withLock { $0.completedInTransaction = true } }

    /// The lease was extended by a statement sent at `instant` (never moves the deadline back).
    func renewed(at instant: ContinuousClock.Instant) {
        state.withLock { state in state.deadline = max(state.deadline, instant + lease) }
    }

    /// Asks the job's task to stop (cancels it); the first reason wins. Returns true when this
    /// call stopped it (it was running and not stopped yet).
    @discardableResult
    func stop(_ reason: StopReason) -> Bool {
        state.withLock { state in
            guard state.reason == nil, state.phase == .running else { return false }
            state.reason = reason
            state.task?.task.cancel()
            return true
        }
    }

    /// Registers the calling task as the job's task (cancelling it at once if a stop came first).
    func attachCurrentTask() {
        withUnsafeCurrentTask { task in
            guard let task else { return }
            let handle = TaskHandle(task: task)
            let stopped = state.withLock { state -> Bool in
                state.task = handle
                return state.reason != nil
            }
            if stopped { task.cancel() }
        }
    }

    /// Forgets the task and marks the handler finished; called before the task ends.
    func finishRunning() {
        state.withLock { state in
            state.task = nil
            state.phase = .finished
        }
    }
}

/// The jobs this worker holds, and the slots reserved by claims in flight, so concurrent claim
/// loops never run more than `concurrency` handlers between them.
final class HeldJobs: Sendable {
    private struct State {
        var jobs: [Int64: HeldJob] = [:]
        var running = 0
        var reserved = 0
    }
    private let state = Mutex(State())

    /// Handlers running now.
    var runningCount: Int { state.withLock { $0.running } }
    /// Every held job: running, or finished and not yet recorded.
    var count: Int { state.withLock { $0.jobs.count } }
    /// Finished jobs whose result is not recorded yet.
    var unrecordedCount: Int { state.withLock { $0.jobs.count - $0.running } }

    /// Reserves up to `batch` free slots, or none when fewer than `threshold` are free or the
    /// unrecorded backlog is full.
    func reserve(concurrency: Int, batch: Int, threshold: Int, maximumUnrecorded: Int) -> Int {
        state.withLock { state in
            guard state.jobs.count - state.running < maximumUnrecorded else { return 0 }
            let free = concurrency - state.running - state.reserved
            guard free >= threshold else { return 0 }
            let take = min(free, batch)
            state.reserved += take
            return take
        }
    }

    /// Turns a reservation of `reserved` slots into `jobs` running ones (the rest is given back).
    func claimed(_ jobs: [HeldJob], reserved: Int) {
        state.withLock { state in
            for job in jobs { state.jobs[job.id] = job }
            state.running += jobs.count
            state.reserved -= reserved
        }
    }

    /// A handler returned: its job stays held until its record is written. Returns the running count.
    @discardableResult
    func handlerFinished(_ job: HeldJob) -> Int {
        job.finishRunning()
        return state.withLock { state in
            state.running -= 1
            return state.running
        }
    }

    /// Forgets jobs whose result was recorded, dropped, or will never be written (lease lost).
    func release(_ ids: some Sequence<Int64>) {
        state.withLock { state in
            for id in ids { state.jobs[id] = nil }
        }
    }

    func job(_ id: Int64) -> HeldJob? { state.withLock { $0.jobs[id] } }

    /// Every held job, in no particular order.
    func snapshot() -> [HeldJob] { state.withLock { Array($0.jobs.values) } }
}
