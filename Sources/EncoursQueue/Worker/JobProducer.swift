import EncoursPostgres
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Claims jobs in batches and runs them with their handlers, within `concurrency` slots.
///
/// One claim loop per claim connection, so one claim's round trip overlaps another's. A loop
/// claims when at least half a batch of slots is free and the backlog of unrecorded results is
/// not full. After ``stopClaiming()`` it waits for running jobs up to the grace period, then
/// stops (releases) what still runs, and returns once every handler has returned.
final class JobProducer: Service, Sendable {
    private let configuration: WorkerConfiguration
    private let kinds: [String]
    private let handlers: [String: any JobHandler]
    private let sessions: [PostgresSession]
    private let pool: PostgresPool
    private let held: HeldJobs
    private let completer: JobCompleter
    private let health: DatabaseHealth
    private let metrics: WorkerMetrics
    private let logger: Logger
    /// One per claim loop; ``wake()`` signals them all.
    private let fetchWakes: [WakeSignal]
    /// One per claim loop (a WakeSignal has one waiter); all are signalled when no job runs.
    private let idleWakes: [WakeSignal]
    private let stopping = Atomic<Bool>(false)
    private let threshold: Int

    init(
        configuration: WorkerConfiguration, kinds: [String], handlers: [String: any JobHandler], sessions: [PostgresSession],
        fetchWakes: [WakeSignal], pool: PostgresPool, held: HeldJobs, completer: JobCompleter, health: DatabaseHealth, metrics: WorkerMetrics, logger: Logger
    ) {
        self.configuration = configuration
        self.kinds = kinds
        self.handlers = handlers
        self.sessions = sessions
        self.pool = pool
        self.held = held
        self.completer = completer
        self.health = health
        self.metrics = metrics
        self.logger = logger
        precondition(fetchWakes.count == sessions.count, "one wake signal per claim loop")
        self.fetchWakes = fetchWakes
        self.idleWakes = sessions.map { _ in WakeSignal() }
        self.threshold = Self.claimThreshold(concurrency: configuration.concurrency, batchSize: configuration.batchSize)
    }

    /// Wakes every claim loop (new jobs, free slots).
    func wake() {
        for wake in fetchWakes { wake.signal() }
    }

    /// Stops claiming; running jobs get the grace period to finish.
    func stopClaiming() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wake()
    }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    /// Free slots needed before claiming again: half a batch (at least one).
    static func claimThreshold(concurrency: Int, batchSize: Int) -> Int {
        max(1, min(batchSize, concurrency) / 2)
    }

    /// The tenant cursor for the next claim: claims rotate through tenants in id order.
    static func nextCursor(after cursor: Int64, claimedTenants: [Int64]) -> Int64 {
        guard !claimedTenants.isEmpty else { return cursor }
        // The claim visits tenants after the cursor first, then wraps to those at or before it.
        if let wrapped = claimedTenants.filter({ $0 <= cursor }).max() { return wrapped }
        return claimedTenants.max() ?? cursor
    }

    func run() async {
        await withDiscardingTaskGroup { loops in
            for index in sessions.indices {
                loops.addTask { await self.claimLoop(session: self.sessions[index], wake: self.fetchWakes[index], idle: self.idleWakes[index]) }
            }
        }
    }

    private func claimLoop(session: PostgresSession, wake: WakeSignal, idle: WakeSignal) async {
        let configuration = self.configuration
        await withDiscardingTaskGroup { group in
            var cursor: Int64 = 0
            var failures = 0
            while !isStopping {
                let requested = held.reserve(
                    concurrency: configuration.concurrency, batch: configuration.batchSize, threshold: threshold,
                    maximumUnrecorded: configuration.maximumUnrecorded)
                if requested == 0 {
                    await wake.wait(timeout: configuration.pollInterval)
                    continue
                }
                let jobs: [Job]
                let sent = ContinuousClock.now
                do {
                    jobs = try await claim(limit: requested, cursor: cursor, on: session)
                    metrics.recordClaim(jobs, duration: ContinuousClock.now - sent)
                    health.touch()
                    if failures > 0 { logger.notice("claims succeed again") }
                    failures = 0
                } catch {
                    held.claimed([], reserved: requested)
                    if error is CancellationError { break }
                    failures += 1
                    if failures == 1 || failures % 20 == 0 {
                        logger.error("claim failed; retrying with backoff", metadata: ["error": "\(error)", "failures": "\(failures)"])
                    }
                    await wake.wait(timeout: .milliseconds(min(5000, 100 << min(failures, 6))))
                    continue
                }
                let entries = jobs.map {
                    HeldJob(id: $0.id, attempt: $0.attempt, tenantID: $0.tenantID, kind: $0.kind, lease: configuration.lease, claimedAt: sent)
                }
                // Held before the reservation is given back: they always count somewhere.
                held.claimed(entries, reserved: requested)
                for (job, entry) in zip(jobs, entries) {
                    group.addTask { await self.execute(job, entry: entry) }
                }
                if !jobs.isEmpty { metrics.recordRunning(held.runningCount) }
                cursor = Self.nextCursor(after: cursor, claimedTenants: jobs.map(\.tenantID))
                if jobs.count == requested { continue }
                // Held, not only running: a failed attempt whose retry is not recorded yet is
                // still work for this drain (its record makes it due within the lease).
                if configuration.drain, jobs.isEmpty, held.count == 0, await isDrained(on: session) {
                    logger.debug("drained: no job left to take")
                    break
                }
                await wake.wait(timeout: configuration.pollInterval)
            }
            await finishRunningJobs(idle: idle)
        }
    }

    /// For `--drain`: rescues lapsed leases (a dead worker's jobs are not idle work: they are
    /// retried at once, and the drain runs them), then asks whether any job this worker may take
    /// is available, due within one lease (a scheduled job, a retry after a short backoff), or
    /// about to be rescued. False when that cannot be told.
    private func isDrained(on session: PostgresSession) async -> Bool {
        let (configuration, kinds) = (self.configuration, self.kinds)
        do {
            let more = try await session.withConnection { connection -> Bool in
                let rescue = try QueueStatements.rescueExpired(limit: 10_000, policy: Self.immediateRetry, on: connection)
                if rescue.total > 0 { try connection.query("SELECT pg_notify('encours_jobs', '')") }
                if rescue.retried > 0 { return true }
                return try QueueStatements.hasClaimableWork(
                    tenantIDs: configuration.tenantIDs, excludedTenantIDs: configuration.excludedTenantIDs, kinds: kinds,
                    horizon: configuration.lease, on: connection)
            }
            return !more
        } catch is CancellationError {
            return true
        } catch {
            logger.error("cannot tell whether the queue is drained", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// No backoff: what a drain rescues, it runs before it exits.
    static let immediateRetry = RetryPolicy(base: .zero, maximum: .zero, jitter: 0)

    private func claim(limit: Int, cursor: Int64, on session: PostgresSession) async throws -> [Job] {
        let (configuration, kinds) = (self.configuration, self.kinds)
        return try await session.withConnection {
            try QueueStatements.claim(
                workerID: configuration.workerID, limit: limit, lease: configuration.lease, cursor: cursor,
                tenantIDs: configuration.tenantIDs, excludedTenantIDs: configuration.excludedTenantIDs,
                kinds: kinds, durable: configuration.durableClaims, on: $0)
        }
    }

    /// After claiming stopped: wait up to the grace period, then release what still runs.
    private func finishRunningJobs(idle: WakeSignal) async {
        guard held.runningCount > 0 else { return }
        logger.info("waiting for running jobs", metadata: ["running": "\(held.runningCount)"])
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while held.runningCount > 0, ContinuousClock.now < deadline {
            await idle.wait(timeout: deadline - ContinuousClock.now)
        }
        let left = held.snapshot().filter { $0.phase == .running }
        if !left.isEmpty {
            logger.warning("grace period over: releasing running jobs", metadata: ["running": "\(left.count)"])
            for job in left { job.stop(.shutdown) }
        }
    }

    private func execute(_ job: Job, entry: HeldJob) async {
        await JobLogMetadata.$current.withValue(JobLogMetadata(id: job.id, kind: job.kind, tenantID: job.tenantID)) {
            await executeWithMetadata(job, entry: entry)
        }
    }

    private func executeWithMetadata(_ job: Job, entry: HeldJob) async {
        let context = JobContext(
            job: job, logger: logger, pool: pool, workerID: configuration.workerID, lease: configuration.lease, attempt: entry)
        let started = ContinuousClock.now

        // The job runs in this child task; `jobs cancel`, a lost lease or the end of the grace
        // period cancel this task alone (see HeldJob), and the handler sees task cancellation.
        entry.attachCurrentTask()
        let result: Result<Void, any Error>
        do {
            guard let handler = handlers[job.kind] else { throw QueueError(.invalidInput, "no handler for kind \(job.kind)") }
            try await handler.handle(context)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        let left = held.handlerFinished(entry)
        let elapsed = ContinuousClock.now - started
        let reason = entry.stopReason

        if entry.completedInTransaction {
            // Its own transaction recorded it.
            held.release([job.id])
            metrics.recordFinished(kind: job.kind, state: .completed, duration: elapsed)
            logger.debug("job completed in its transaction", metadata: ["duration_ms": "\(elapsed.inMilliseconds)"])
        } else if reason == .leaseLost || (result.error as? QueueError)?.code == .leaseLost {
            held.release([job.id])
            metrics.recordDropped(reason: "lease_lost", count: 1)
            logger.warning("job stopped without recording its result: this worker lost its lease", metadata: [
                "attempt": "\(job.attempt)", "duration_ms": "\(elapsed.inMilliseconds)",
            ])
        } else {
            let outcome: AttemptOutcome
            switch (result, reason) {
            case (.success, _): outcome = .succeeded
            case (.failure, .cancelRequested?): outcome = .cancelled
            case (.failure, .shutdown?): outcome = .released
            case (.failure(let error), _): outcome = .failed(Self.describe(error))
            }
            let resolution = AttemptResolution.resolve(
                outcome: outcome, attempt: job.countedAttempts, maxAttempts: job.maxAttempts,
                policy: configuration.retryPolicy, unitRandom: outcome.isFailure ? Double.random(in: 0..<1) : 0)
            metrics.recordFinished(kind: job.kind, state: resolution.state, duration: elapsed)
            switch outcome {
            case .succeeded:
                logger.debug("job completed", metadata: ["duration_ms": "\(elapsed.inMilliseconds)"])
            case .failed(let message):
                logger.warning("job failed", metadata: [
                    "error": "\(message)", "attempt": "\(job.attempt)", "next_state": "\(resolution.state.rawValue)",
                ])
            case .cancelled:
                logger.info("job cancelled")
            case .released:
                logger.info("job released at shutdown")
            }
            completer.submit(.init(jobID: job.id, attempt: job.attempt, resolution: resolution))
        }
        if configuration.concurrency - left >= threshold { wake() }
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
}

extension Result {
    /// The error, when this is a failure.
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// The job the current task runs, for the metadata of every log record it writes.
///
/// The metadata itself is made only when a record is written: most jobs log nothing at the
/// configured level, and a dictionary per job is a measurable share of a burn-down's CPU.
struct JobLogMetadata: Sendable {
    let id: Int64
    let kind: String
    let tenantID: Int64

    @TaskLocal static var current: JobLogMetadata?

    static let provider = Logger.MetadataProvider {
        guard let job = current else { return [:] }
        return ["job.id": .stringConvertible(job.id), "job.kind": .string(job.kind), "tenant.id": .stringConvertible(job.tenantID)]
    }
}
