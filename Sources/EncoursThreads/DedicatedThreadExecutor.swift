import Foundation

/// A serial executor that runs its jobs on one dedicated OS thread, never on Swift's cooperative pool.
///
/// Actors that make blocking libpq calls use it as their executor, so a slow query blocks only
/// its own thread and the cooperative pool stays free for the rest of the program.
public final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [UnownedJob] = []
    private var stopping = false

    /// Starts the thread; `name` shows in debuggers and `top -H`.
    public init(name: String) {
        let thread = Thread { [self] in
            Thread.current.threadDictionary[Self.nameKey] = name
            self.runLoop()
        }
        thread.stackSize = 1 << 22
        thread.start()
    }

    private static let nameKey = "encours.executor.name"

    /// The name given to ``init(name:)`` when called on an executor's thread; nil on any other thread.
    public static func currentExecutorName() -> String? {
        Thread.current.threadDictionary[nameKey] as? String
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        pending.append(job)
        condition.signal()
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets the thread end once the jobs already enqueued have run.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping {
                condition.unlock()
                return
            }
            swap(&batch, &pending)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
