import EncoursPostgres
import Foundation
import Logging
import ServiceLifecycle

/// A queue worker: claims jobs in batches, runs them with their handlers, and keeps the queue healthy.
///
/// It is a `Service` made of smaller ones, each with one concern (River's `internal/` services
/// are the model):
/// - ``JobProducer``: claim loops and slots, and running each job's handler;
/// - ``JobCompleter``: writing attempts' ends in batches, fenced by lease;
/// - ``JobNotifier``: LISTEN/NOTIFY wake-ups and cancel requests;
/// - ``LeaseKeeper``: heartbeats, and stopping jobs whose lease could not be renewed;
/// - ``QueueMaintainer``: the elected leader's promotion, rescue, pruning and vacuuming;
/// - ``DatabaseHealth``: database pings for `/healthz`.
///
/// `run()` returns when the worker has drained (`drain`) or, after a graceful shutdown request
/// (SIGTERM/SIGINT through a `ServiceGroup`), once its running jobs finished or were released at
/// the end of the grace period and their results were recorded. Every libpq call runs on a
/// dedicated thread, one per connection.
public final class QueueWorker: Service, Sendable {
    public let configuration: WorkerConfiguration
    private let kinds: [String]
    private let logger: Logger
    private let held = HeldJobs()
    private let pool: PostgresPool
    private let claimSessions: [PostgresSession]
    private let controlSession: PostgresSession
    private let maintenanceSession: PostgresSession
    private let retentionSession: PostgresSession
    private let completionSession: PostgresSession
    private let listenSession: PostgresSession
    private let healthSession: PostgresSession
    private let health: DatabaseHealth
    private let producer: JobProducer
    private let completer: JobCompleter
    private let notifier: JobNotifier
    private let leaseKeeper: LeaseKeeper
    private let maintainer: QueueMaintainer

    /// Creates a worker for the given handlers; only their kinds (filtered by `configuration.kinds`) are claimed.
    public init(connectionString: String, configuration: WorkerConfiguration, handlers: [any JobHandler], logger: Logger) {
        self.configuration = configuration
        var byKind: [String: any JobHandler] = [:]
        for handler in handlers { byKind[handler.kind] = handler }
        let handled = byKind.keys.sorted()
        let kinds = configuration.kinds.map { wanted in handled.filter(wanted.contains) } ?? handled
        self.kinds = kinds
        let metrics = WorkerMetrics(kinds: handled)
        var logger = logger
        logger[metadataKey: "worker.id"] = "\(configuration.workerID)"
        // Job metadata (job.id, job.kind, tenant.id) comes from a task-local, read only when a
        // record is actually logged: setting it per job on the logger cost more than the job.
        let provider = logger.handler.metadataProvider
        logger.handler.metadataProvider = provider.map { .multiplex([$0, JobLogMetadata.provider]) } ?? JobLogMetadata.provider
        self.logger = logger

        func session(_ name: String, setupSQL: String? = nil) -> PostgresSession {
            PostgresSession(connectionString: connectionString, name: name, setupSQL: setupSQL)
        }
        pool = PostgresPool(connectionString: connectionString, size: configuration.handlerConnections, name: "encours-handler")
        // Claims commit without waiting for the WAL flush (set in each claim's own transaction,
        // see QueueStatements.claim): a claim lost in a server crash only makes its jobs available
        // again (their lease lapses), which at-least-once delivery allows. Enqueues and
        // completions stay durable. See BENCHMARKS.md for what this buys.
        claimSessions = (0..<configuration.claimConnections).map { index in session("encours-claim-\(index)") }
        controlSession = session("encours-control")
        maintenanceSession = session("encours-maintenance")
        retentionSession = session("encours-retention")
        completionSession = session("encours-complete")
        listenSession = session("encours-listen")
        healthSession = session("encours-health")

        let health = DatabaseHealth(
            session: healthSession, interval: configuration.healthCheckInterval, staleness: configuration.healthStaleness, logger: logger)
        self.health = health
        let held = self.held
        // One per claim loop. Written results free room in the unrecorded backlog: the completer
        // wakes the claim loops too.
        let fetchWakes = claimSessions.map { _ in WakeSignal() }
        completer = JobCompleter(
            session: completionSession, held: held, workerID: configuration.workerID, finalTimeout: configuration.finalRecordTimeout,
            health: health, metrics: metrics, logger: logger, onWritten: { for wake in fetchWakes { wake.signal() } })
        producer = JobProducer(
            configuration: configuration, kinds: kinds, handlers: byKind, sessions: claimSessions, fetchWakes: fetchWakes, pool: pool,
            held: held, completer: completer, health: health, metrics: metrics, logger: logger)
        let producer = self.producer
        notifier = JobNotifier(session: listenSession, held: held, logger: logger) { producer.wake() }
        leaseKeeper = LeaseKeeper(
            session: controlSession, held: held, workerID: configuration.workerID, timings: LeaseTimings(lease: configuration.lease),
            health: health, logger: logger)
        maintainer = QueueMaintainer(
            fast: maintenanceSession, slow: retentionSession, configuration: configuration, health: health, logger: logger
        ) { producer.wake() }
    }

    /// Handlers running right now.
    public var runningCount: Int { held.runningCount }

    /// True while this worker is the elected queue maintainer.
    public var isMaintainer: Bool { maintainer.isLeader }

    /// For `/healthz`: healthy while the database answered within the last few seconds and the
    /// worker is not stopping.
    public func healthReport() -> (healthy: Bool, detail: String) {
        if producer.isStopping { return (false, "shutting down") }
        let (healthy, detail) = health.report()
        return (healthy, healthy ? "\(runningCount) running, \(detail)" : detail)
    }

    public func run() async throws {
        let configuration = self.configuration
        let kinds = self.kinds
        try await controlSession.withConnection { connection in
            guard let version = try QueueStatements.schemaVersion(on: connection) else {
                throw QueueError(.invalidState, "the database has no Encours schema: run encours migrate first")
            }
            guard version >= Self.requiredSchemaVersion else {
                throw QueueError(
                    .invalidState,
                    "the database schema is at migration \(version) but this worker needs \(Self.requiredSchemaVersion): run encours migrate")
            }
            try QueueStatements.register(configuration, kinds: kinds, on: connection)
        }
        health.touch()
        logger.info("worker started", metadata: [
            "concurrency": "\(configuration.concurrency)", "kinds": "\(kinds.joined(separator: ","))",
            "listen": "\(configuration.listen)", "lease_seconds": "\(QueueStatements.seconds(configuration.lease))",
        ])

        await withDiscardingTaskGroup { background in
            if configuration.listen { background.addTask { await self.notifier.run() } }
            background.addTask { await self.leaseKeeper.run() }
            background.addTask { await self.maintainer.run() }
            background.addTask { await self.health.run() }
            async let recording: Void = completer.run()

            await withGracefulShutdownHandler {
                await self.producer.run()
            } onGracefulShutdown: {
                self.producer.stopClaiming()
            }
            // Every handler returned; write what they left, while leases are still renewed.
            completer.finish()
            await recording
            background.cancelAll()
        }

        do {
            try await controlSession.withConnection { try QueueStatements.unregister(workerID: configuration.workerID, on: $0) }
        } catch {
            logger.warning("could not remove this worker from the registry", metadata: ["error": "\(error)"])
        }
        for session in claimSessions { await session.close() }
        for session in [controlSession, maintenanceSession, retentionSession, completionSession, listenSession, healthSession] {
            await session.close()
        }
        await pool.close()
        logger.info("worker stopped")
    }

    /// Stops claiming; running jobs get the grace period to finish.
    public func beginShutdown() {
        producer.stopClaiming()
    }

    /// The last migration this worker's SQL needs.
    public static let requiredSchemaVersion = 11
}
