import EncoursPostgres
import Logging
import ServiceLifecycle
import Synchronization

/// Writes attempts' ends in batches: whatever accumulated while the previous write ran.
///
/// A job stays held (its lease renewed) until its record is written. A record the fence drops
/// (the attempt lost its lease meanwhile) is logged. When the worker stops, what is left is
/// retried for ``WorkerConfiguration/finalRecordTimeout``; anything still unwritten then is
/// logged with its job ids (those jobs stay `running` until their lease lapses, then are rescued).
final class JobCompleter: Service, Sendable {
    private let session: PostgresSession
    private let held: HeldJobs
    private let workerID: String
    private let finalTimeout: Duration
    private let health: DatabaseHealth
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let onWritten: @Sendable () -> Void
    private let pending = Mutex<[QueueStatements.Record]>([])
    private let wake = WakeSignal()
    private let finishing = Atomic<Bool>(false)

    init(
        session: PostgresSession, held: HeldJobs, workerID: String, finalTimeout: Duration, health: DatabaseHealth,
        metrics: WorkerMetrics, logger: Logger, onWritten: @escaping @Sendable () -> Void
    ) {
        self.session = session
        self.held = held
        self.workerID = workerID
        self.finalTimeout = finalTimeout
        self.health = health
        self.metrics = metrics
        self.logger = logger
        self.onWritten = onWritten
    }

    /// Queues an attempt's end for the next batch.
    func submit(_ record: QueueStatements.Record) {
        pending.withLock { $0.append(record) }
        wake.signal()
    }

    /// Records not yet written.
    var backlog: Int { pending.withLock { $0.count } }

    /// Asks ``run()`` to write what is left and return.
    func finish() {
        finishing.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
    }

    func run() async {
        var failures = 0
        var giveUpAt: ContinuousClock.Instant?
        while true {
            let isFinishing = finishing.load(ordering: .sequentiallyConsistent)
            if isFinishing, giveUpAt == nil { giveUpAt = .now + finalTimeout }
            if !isFinishing { await wake.wait(timeout: .milliseconds(100)) }
            let batch = pending.withLock { records in
                defer { records.removeAll(keepingCapacity: true) }
                return records
            }
            if batch.isEmpty {
                if isFinishing || Task.isCancelled { return }
                continue
            }
            do {
                try await write(batch)
                failures = 0
            } catch {
                failures += 1
                pending.withLock { $0.insert(contentsOf: batch, at: 0) }
                let cancelled = error is CancellationError || Task.isCancelled
                if cancelled || (giveUpAt.map { ContinuousClock.now >= $0 } ?? false) {
                    reportUnwritten(reason: cancelled ? "the worker was cancelled" : "\(error)")
                    return
                }
                if failures == 1 || failures % 10 == 0 {
                    logger.error("recording job results failed; retrying", metadata: [
                        "error": "\(error)", "jobs": "\(backlog)", "failures": "\(failures)",
                    ])
                }
                await wake.wait(timeout: .milliseconds(min(2000, 100 * Int64(failures))))
                // Wake signals during the wait were for new records; they are in `pending`.
            }
        }
    }

    private func write(_ batch: [QueueStatements.Record]) async throws {
        let workerID = self.workerID
        let outcome = try await session.withConnection { connection in
            let outcome = try QueueStatements.record(batch, workerID: workerID, on: connection)
            if outcome.madeAvailable > 0 { try connection.query("SELECT pg_notify('encours_jobs', '')") }
            return outcome
        }
        health.touch()
        held.release(batch.map(\.jobID))
        if !outcome.stale.isEmpty {
            metrics.recordDropped(reason: "stale", count: outcome.stale.count)
            logger.warning("dropped results of attempts that no longer held their lease (the jobs were rescued or retried)", metadata: [
                "job.ids": "\(Self.listed(outcome.stale))", "jobs": "\(outcome.stale.count)",
            ])
        }
        onWritten()
    }

    private func reportUnwritten(reason: String) {
        let records = pending.withLock { records in
            defer { records.removeAll() }
            return records
        }
        guard !records.isEmpty else { return }
        metrics.recordDropped(reason: "unrecorded", count: records.count)
        logger.error("could not record the results of finished jobs; they stay running until their lease lapses, then are retried", metadata: [
            "jobs": "\(records.count)", "job.ids": "\(Self.listed(records.map(\.jobID)))", "reason": "\(reason)",
        ])
    }

    /// Up to 50 ids, then how many more.
    static func listed(_ ids: [Int64]) -> String {
        let shown = ids.prefix(50).map(String.init).joined(separator: ",")
        return ids.count > 50 ? "\(shown) (+\(ids.count - 50) more)" : shown
    }
}
