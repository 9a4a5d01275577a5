import EncoursPostgres
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A queue worker: claims jobs in batches, runs them with their handlers, and keeps the queue healthy.
///
/// It is a `Service`: `run()` returns when the worker has drained (`drain`) or, after a graceful
/// shutdown request (SIGTERM/SIGINT through a `ServiceGroup`), once its running jobs finished or
/// were released at the end of the grace period. Every libpq call runs on a dedicated thread.
public final class QueueWorker: Service, Sendable {
    /// Why a running job is being stopped.
    enum StopReason: Sendable {
        case cancelRequested, shutdown, leaseLost
    }

    /// A job this worker is running, and the means to cancel its task alone.
    final class RunningJob: Sendable {
        /// The job's task while it runs. Used only under the lock, and detached before the
        /// task returns, so it is never used after the task ended.
        private struct TaskHandle: @unchecked Sendable {
            let task: UnsafeCurrentTask
        }
        private struct State {
            var reason: StopReason?
            var task: TaskHandle?
        }
        let attempt: Int
        private let state = Mutex(State())
        init(attempt: Int) { self.attempt = attempt }

        /// Why the job was stopped, if it was.
        var stopReason: StopReason? { state.withLock { $0.reason } }

        /// Asks the job's task to stop (cancels it); the first reason wins.
        func stop(_ reason: StopReason) {
            state.withLock { state in
                guard state.reason == nil else { return }
                state.reason = reason
                state.task?.task.cancel()
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

        /// Forgets the task; called before it ends.
        func detachTask() {
            state.withLock { $0.task = nil }
        }
    }

    public let configuration: WorkerConfiguration
    private let handlers: [String: any JobHandler]
    private let kinds: [String]
    private let logger: Logger
    private let pool: PostgresPool
    private let claimSessions: [PostgresSession]
    /// Registration and heartbeats: never queued behind maintenance (a vacuum can take a while).
    private let controlSession: PostgresSession
    /// Promotion, rescue, pruning and vacuuming.
    private let maintenanceSession: PostgresSession
    private let completionSession: PostgresSession
    private let listenSession: PostgresSession
    private let timings: LeaseTimings

    /// Jobs running here, and slots reserved by claims in flight (so concurrent claims never
    /// take more than `concurrency` between them).
    private struct Slots {
        var jobs: [Int64: RunningJob] = [:]
        var reserved = 0
    }
    private let running = Mutex(Slots())
    private let pendingRecords = Mutex<[WorkerStatements.Record]>([])
    /// One per claim loop; ``wakeFetchers()`` signals them all.
    private let fetchWakes: [WakeSignal]
    /// One per claim loop (a WakeSignal has one waiter); all are signalled when no job runs.
    private let idleWakes: [WakeSignal]
    private let completionWake = WakeSignal()
    private let stopping = Atomic<Bool>(false)
    private let metrics: WorkerMetrics
    /// When a database round trip last succeeded (claim, heartbeat or maintenance).
    private let lastDatabaseContact = Mutex<ContinuousClock.Instant?>(nil)

    /// Creates a worker for the given handlers; only their kinds (filtered by `configuration.kinds`) are claimed.
    public init(connectionString: String, configuration: WorkerConfiguration, handlers: [any JobHandler], logger: Logger) {
        self.configuration = configuration
        var byKind: [String: any JobHandler] = [:]
        for handler in handlers { byKind[handler.kind] = handler }
        self.handlers = byKind
        let handled = byKind.keys.sorted()
        self.kinds = configuration.kinds.map { wanted in handled.filter(wanted.contains) } ?? handled
        self.metrics = WorkerMetrics(kinds: handled)
        var logger = logger
        logger[metadataKey: "worker.id"] = "\(configuration.workerID)"
        // Job metadata (job.id, job.kind, tenant.id) comes from a task-local, read only when a
        // record is actually logged: setting it per job on the logger cost more than the job.
        let provider = logger.handler.metadataProvider
        logger.handler.metadataProvider = provider.map { .multiplex([$0, JobLogMetadata.provider]) } ?? JobLogMetadata.provider
        self.logger = logger
        self.timings = LeaseTimings(lease: configuration.lease)
        self.pool = PostgresPool(connectionString: connectionString, size: configuration.handlerConnections, name: "encours-handler")
        // Claims commit without waiting for the WAL flush: a claim lost in a server crash only
        // makes its jobs available again (their lease lapses), which at-least-once delivery allows.
        // Enqueues and completions stay durable. See BENCHMARKS.md for what this buys.
        self.claimSessions = (0..<configuration.claimConnections).map { index in
            PostgresSession(
                connectionString: connectionString, name: "encours-claim-\(index)",
                setupSQL: configuration.durableClaims ? nil : "SET synchronous_commit = off")
        }
        self.fetchWakes = (0..<configuration.claimConnections).map { _ in WakeSignal() }
        self.idleWakes = (0..<configuration.claimConnections).map { _ in WakeSignal() }
        self.controlSession = PostgresSession(connectionString: connectionString, name: "encours-control")
        self.maintenanceSession = PostgresSession(connectionString: connectionString, name: "encours-maintenance")
        self.completionSession = PostgresSession(connectionString: connectionString, name: "encours-complete")
        self.listenSession = PostgresSession(connectionString: connectionString, name: "encours-listen")
    }

    /// Jobs running right now.
    public var runningCount: Int { running.withLock { $0.jobs.count } }

    private func wakeFetchers() {
        for wake in fetchWakes { wake.signal() }
    }

    /// For `/healthz`: healthy while the database answered recently and the worker is not stopping.
    public func healthReport() -> (healthy: Bool, detail: String) {
        let limit = max(configuration.lease, configuration.pollInterval * 3, .seconds(10))
        guard let last = lastDatabaseContact.withLock({ $0 }) else { return (false, "no database round trip yet") }
        let age = ContinuousClock.now - last
        if stopping.load(ordering: .relaxed) { return (false, "shutting down") }
        if age > limit { return (false, "no database answer for \(age.inMilliseconds) ms") }
        return (true, "\(runningCount) running, database answered \(age.inMilliseconds) ms ago")
    }

    private func touchDatabase() {
        lastDatabaseContact.withLock { $0 = ContinuousClock.now }
    }

    public func run() async throws {
        let configuration = self.configuration
        let kinds = self.kinds
        try await controlSession.withConnection { try WorkerStatements.register(configuration, kinds: kinds, on: $0) }
        logger.info("worker started", metadata: [
            "concurrency": "\(configuration.concurrency)", "kinds": "\(kinds.joined(separator: ","))",
            "listen": "\(configuration.listen)", "lease_seconds": "\(WorkerStatements.seconds(configuration.lease))",
        ])

        await withTaskGroup(of: Void.self) { background in
            if configuration.listen { background.addTask { await self.listenLoop() } }
            background.addTask { await self.heartbeatLoop() }
            background.addTask { await self.maintenanceLoop() }
            background.addTask { await self.completionLoop() }

            await withGracefulShutdownHandler {
                await self.fetchAndRun()
            } onGracefulShutdown: {
                self.beginShutdown()
            }
            // The completion loop flushes what is left once cancelled.
            background.cancelAll()
        }

        try? await controlSession.withConnection { try WorkerStatements.unregister(workerID: configuration.workerID, on: $0) }
        for session in claimSessions { await session.close() }
        await controlSession.close()
        await maintenanceSession.close()
        await completionSession.close()
        await listenSession.close()
        await pool.close()
        logger.info("worker stopped")
    }

    /// Stops claiming; running jobs get the grace period to finish.
    public func beginShutdown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeFetchers()
    }

    // MARK: Fetching and running

    /// Runs one claim loop per claim connection: while one claim waits for its round trip,
    /// the other can already be at the server.
    private func fetchAndRun() async {
        await withTaskGroup(of: Void.self) { loops in
            for index in claimSessions.indices {
                loops.addTask {
                    await self.fetchLoop(session: self.claimSessions[index], wake: self.fetchWakes[index], idle: self.idleWakes[index])
                }
            }
        }
    }

    /// Reserves up to a batch of free slots, or none when fewer than `threshold` are free.
    private func reserveSlots(threshold: Int) -> Int {
        running.withLock { slots in
            let free = configuration.concurrency - slots.jobs.count - slots.reserved
            guard free >= threshold else { return 0 }
            let take = min(free, configuration.batchSize)
            slots.reserved += take
            return take
        }
    }

    private func fetchLoop(session: PostgresSession, wake: WakeSignal, idle: WakeSignal) async {
        let configuration = self.configuration
        await withDiscardingTaskGroup { group in
            var cursor: Int64 = 0
            var consecutiveFailures = 0
            // Claim when at least half a batch of slots is free: many small claims cost more
            // round trips (and commits) than they save.
            let threshold = Self.claimThreshold(concurrency: configuration.concurrency, batchSize: configuration.batchSize)
            while !stopping.load(ordering: .sequentiallyConsistent) {
                let requested = reserveSlots(threshold: threshold)
                if requested == 0 {
                    await wake.wait(timeout: configuration.pollInterval)
                    continue
                }
                let jobs: [Job]
                do {
                    let started = ContinuousClock.now
                    jobs = try await claim(limit: requested, cursor: cursor, on: session)
                    metrics.recordClaim(count: jobs.count, duration: ContinuousClock.now - started)
                    touchDatabase()
                    consecutiveFailures = 0
                } catch {
                    running.withLock { $0.reserved -= requested }
                    consecutiveFailures += 1
                    logger.error("claim failed", metadata: ["error": "\(error)"])
                    await wake.wait(timeout: .milliseconds(min(5000, 100 << min(consecutiveFailures, 6))))
                    continue
                }
                let entries = jobs.map { RunningJob(attempt: $0.attempt) }
                // Register the jobs before giving back the reservation: they always count somewhere.
                running.withLock { slots in
                    for (job, entry) in zip(jobs, entries) { slots.jobs[job.id] = entry }
                    slots.reserved -= requested
                }
                for (job, entry) in zip(jobs, entries) {
                    group.addTask { await self.execute(job, entry: entry) }
                }
                if !jobs.isEmpty { metrics.recordRunning(runningCount) }
                cursor = Self.nextCursor(after: cursor, claimedTenants: jobs.map(\.tenantID))
                if jobs.count == requested { continue }
                if configuration.drain, jobs.isEmpty, runningCount == 0 {
                    let more = try? await session.withConnection { [kinds] in
                        try WorkerStatements.hasClaimableWork(
                            tenantIDs: configuration.tenantIDs, excludedTenantIDs: configuration.excludedTenantIDs,
                            kinds: kinds, on: $0)
                    }
                    if more == false {
                        logger.debug("drained: no job left to take")
                        break
                    }
                }
                await wake.wait(timeout: configuration.pollInterval)
            }
            await finishRunningJobs(idle: idle)
        }
    }

    /// Free slots needed before claiming again: half a batch (at least one).
    static func claimThreshold(concurrency: Int, batchSize: Int) -> Int {
        max(1, min(batchSize, concurrency) / 2)
    }

    /// The tenant cursor for the next claim: claims rotate through tenants in id order.
    static func nextCursor(after cursor: Int64, claimedTenants: [Int64]) -> Int64 {
        guard !claimedTenants.isEmpty else { return cursor }
        // The claim lists tenants after the cursor first, then wraps to those at or before it.
        if let wrapped = claimedTenants.filter({ $0 <= cursor }).max() { return wrapped }
        return claimedTenants.max() ?? cursor
    }

    private func claim(limit: Int, cursor: Int64, on session: PostgresSession) async throws -> [Job] {
        let configuration = self.configuration
        let kinds = self.kinds
        return try await session.withConnection {
            try WorkerStatements.claim(
                workerID: configuration.workerID, limit: limit, lease: configuration.lease, cursor: cursor,
                tenantIDs: configuration.tenantIDs, excludedTenantIDs: configuration.excludedTenantIDs,
                kinds: kinds, on: $0)
        }
    }

    /// After shutdown was asked: wait up to the grace period, then stop what still runs.
    private func finishRunningJobs(idle: WakeSignal) async {
        guard runningCount > 0 else { return }
        logger.info("waiting for running jobs", metadata: ["running": "\(runningCount)"])
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while runningCount > 0, ContinuousClock.now < deadline {
            await idle.wait(timeout: deadline - ContinuousClock.now)
        }
        let left = running.withLock { Array($0.jobs.values) }
        if !left.isEmpty {
            logger.warning("grace period over: releasing running jobs", metadata: ["running": "\(left.count)"])
            for job in left { job.stop(.shutdown) }
        }
    }

    private func execute(_ job: Job, entry: RunningJob) async {
        let metadata: Logger.Metadata = [
            "job.id": .stringConvertible(job.id), "job.kind": .string(job.kind), "tenant.id": .stringConvertible(job.tenantID),
        ]
        await JobLogMetadata.$current.withValue(metadata) {
            await executeWithMetadata(job, entry: entry)
        }
    }

    private func executeWithMetadata(_ job: Job, entry: RunningJob) async {
        let jobLogger = logger
        let context = JobContext(job: job, logger: jobLogger, pool: pool)
        let handler = handlers[job.kind]
        let started = ContinuousClock.now

        // The job runs in this child task; `jobs cancel`, a lost lease or the end of the grace
        // period cancel this task alone (see RunningJob), and the handler sees task cancellation.
        entry.attachCurrentTask()
        let result: Result<Void, any Error>
        do {
            guard let handler else { throw QueueError(.invalidInput, "no handler for kind \(job.kind)") }
            try await handler.handle(context)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        entry.detachTask()

        let reason = entry.stopReason
        let outcome: AttemptOutcome
        switch (result, reason) {
        case (.success, _): outcome = .succeeded
        case (.failure, .cancelRequested?): outcome = .cancelled
        case (.failure, .shutdown?): outcome = .released
        case (.failure(let error), _): outcome = .failed(Self.describe(error))
        }
        let resolution = AttemptResolution.resolve(
            outcome: outcome, attempt: job.attempt, maxAttempts: job.maxAttempts,
            policy: configuration.retryPolicy, unitRandom: outcome.isFailure ? Double.random(in: 0..<1) : 0)
        let elapsed = ContinuousClock.now - started
        metrics.recordFinished(kind: job.kind, state: resolution.state, duration: elapsed)
        switch outcome {
        case .succeeded:
            jobLogger.debug("job completed", metadata: ["duration_ms": "\(elapsed.inMilliseconds)"])
        case .failed(let message):
            jobLogger.warning("job failed", metadata: [
                "error": "\(message)", "attempt": "\(job.attempt)", "next_state": "\(resolution.state.rawValue)",
            ])
        case .cancelled:
            jobLogger.info("job cancelled")
        case .released:
            jobLogger.info("job released at shutdown")
        }
        if reason != .leaseLost {
            pendingRecords.withLock { $0.append(.init(jobID: job.id, attempt: job.attempt, resolution: resolution)) }
            completionWake.signal()
        }
        let left = running.withLock { slots -> Int in
            slots.jobs[job.id] = nil
            return slots.jobs.count
        }
        if configuration.concurrency - left >= Self.claimThreshold(concurrency: configuration.concurrency, batchSize: configuration.batchSize) {
            wakeFetchers()
        }
        if left == 0 {
            for wake in idleWakes { wake.signal() }
            metrics.recordRunning(0)
        }
    }

    /// One line, at most 2,000 characters: what is kept on the job for the attempt.
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
        return text.count > 2000 ? String(text.prefix(2000)) + "…" : text
    }

    // MARK: Completion

    /// Writes attempts' ends in batches: whatever accumulated while the previous write ran.
    private func completionLoop() async {
        var failures = 0
        while true {
            let cancelled = Task.isCancelled
            if !cancelled { await completionWake.wait(timeout: .milliseconds(100)) }
            let batch = pendingRecords.withLock { records in
                defer { records.removeAll(keepingCapacity: true) }
                return records
            }
            if batch.isEmpty {
                if Task.isCancelled { return }
                continue
            }
            do {
                let madeAvailable = try await completionSession.withConnection { connection in
                    let count = try WorkerStatements.record(batch, on: connection)
                    if count > 0 { try connection.query("SELECT pg_notify('encours_jobs', '')") }
                    return count
                }
                _ = madeAvailable
                failures = 0
            } catch {
                failures += 1
                logger.error("recording job results failed", metadata: ["error": "\(error)", "jobs": "\(batch.count)"])
                pendingRecords.withLock { $0.insert(contentsOf: batch, at: 0) }
                // Once shutting down, give up after a few tries: the leases will lapse and the jobs be rescued.
                if Task.isCancelled, failures >= 3 { return }
                try? await Task.sleep(for: .milliseconds(200 * min(failures, 10)))
            }
        }
    }

    // MARK: Listening

    private func listenLoop() async {
        // Cancellation (the worker stopping) interrupts the blocking wait on the session's thread.
        let interrupt: PostgresWaitInterrupt
        do {
            interrupt = try PostgresWaitInterrupt()
        } catch {
            logger.error("cannot listen; polling instead", metadata: ["error": "\(error)"])
            return
        }
        await withTaskCancellationHandler {
            await listen(interrupt: interrupt)
        } onCancel: {
            interrupt.interrupt()
        }
    }

    private func listen(interrupt: PostgresWaitInterrupt) async {
        while !Task.isCancelled {
            do {
                try await listenSession.withConnection { connection in
                    try connection.listen("encours_jobs")
                    try connection.listen("encours_control")
                }
                wakeFetchers()  // anything enqueued while we were not listening
                while !Task.isCancelled {
                    let notes = try await listenSession.withConnection {
                        try $0.waitForNotifications(timeout: .milliseconds(250), interrupt: interrupt)
                    }
                    for note in notes { handle(note) }
                }
            } catch {
                logger.warning("listen connection failed; polling until it is back", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func handle(_ note: PostgresNotification) {
        switch note.channel {
        case "encours_jobs":
            wakeFetchers()
        case "encours_control":
            if note.payload.hasPrefix("cancel:"), let id = Int64(note.payload.dropFirst("cancel:".count)) {
                running.withLock { $0.jobs[id] }?.stop(.cancelRequested)
            }
        default:
            break
        }
    }

    // MARK: Heartbeats and maintenance

    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: timings.heartbeatInterval)
            if Task.isCancelled { return }
            let before = running.withLock { $0.jobs }
            let configuration = self.configuration
            do {
                let ids = Array(before.keys)
                let leased = try await controlSession.withConnection {
                    try WorkerStatements.heartbeat(workerID: configuration.workerID, jobIDs: ids, lease: configuration.lease, on: $0)
                }
                touchDatabase()
                for (id, entry) in before {
                    if let cancelRequested = leased[id] {
                        if cancelRequested { entry.stop(.cancelRequested) }
                    } else if running.withLock({ $0.jobs[id] === entry }) {
                        logger.warning("lost the lease of a running job; stopping it", metadata: ["job.id": "\(id)"])
                        entry.stop(.leaseLost)
                    }
                }
            } catch {
                logger.error("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func maintenanceLoop() async {
        let configuration = self.configuration
        let tick = min(configuration.promotionInterval, timings.rescueInterval)
        var lastRescue = ContinuousClock.now
        var lastPrune = ContinuousClock.now - configuration.pruneInterval
        let leaderTTL = max(configuration.pruneInterval * 3, .seconds(10))
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            if Task.isCancelled { return }
            let now = ContinuousClock.now
            let rescue = now - lastRescue >= timings.rescueInterval
            let prune = now - lastPrune >= configuration.pruneInterval
            if rescue { lastRescue = now }
            if prune { lastPrune = now }
            do {
                let (promoted, rescued, pruned) = try await maintenanceSession.withConnection { connection -> (Int, Int, Int) in
                    let promoted = try WorkerStatements.promoteDue(limit: 10_000, on: connection)
                    let rescued = rescue ? try WorkerStatements.rescueExpired(limit: 10_000, on: connection) : 0
                    if promoted + rescued > 0 { try connection.query("SELECT pg_notify('encours_jobs', '')") }
                    var pruned = 0
                    if prune, try WorkerStatements.elect(role: "maintenance", workerID: configuration.workerID, ttl: leaderTTL, on: connection) {
                        // Short statements until the backlog of finished jobs is gone.
                        let pruneBatch = 5_000
                        var batch = 0
                        repeat {
                            batch = try WorkerStatements.prune(
                                completed: configuration.completedRetention, discarded: configuration.discardedRetention,
                                limit: pruneBatch, on: connection)
                            pruned += batch
                        } while batch >= pruneBatch
                        try WorkerStatements.removeStaleWorkers(olderThan: max(configuration.lease * 4, .seconds(120)), on: connection)
                        // Claims and completions leave dead row versions and index entries behind at
                        // the rate jobs flow; autovacuum looks at a database once a minute at best,
                        // so the leader vacuums the queue table itself (it only visits changed pages).
                        try WorkerStatements.vacuumIfChurned(on: connection)
                    }
                    return (promoted, rescued, pruned)
                }
                if promoted > 0 { wakeFetchers() }
                if rescued > 0 { logger.warning("rescued jobs whose lease lapsed", metadata: ["count": "\(rescued)"]) }
                if pruned > 0 { logger.info("pruned finished jobs", metadata: ["count": "\(pruned)"]) }
            } catch {
                logger.error("maintenance failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// The metadata of the job the current task runs, for every log record it writes.
enum JobLogMetadata {
    @TaskLocal static var current: Logger.Metadata?
    static let provider = Logger.MetadataProvider { current ?? [:] }
}
