import ArgumentParser
import EncoursJobs
import EncoursPostgres
import EncoursQueue
import EncoursRuntime
import EncoursTenancy
import Foundation
import Logging
import ServiceLifecycle

@main
struct EncoursWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encours-worker",
        abstract: "Runs Encours jobs from the PostgreSQL queue until SIGTERM/SIGINT (or, with --drain, until none is left).",
        version: "encours-worker \(BuildInfo.description)")

    @Option(name: .customLong("database-url"), help: "libpq connection string or URI (default: $ENCOURS_DATABASE_URL, then $DATABASE_URL).")
    var databaseURL: String?
    @Option(help: "Jobs run at once.") var concurrency = 10
    @Option(help: "Only these tenants (comma-separated slugs).") var tenants: String?
    @Option(name: .customLong("exclude-tenants"), help: "Never these tenants (comma-separated slugs).") var excludeTenants: String?
    @Option(help: "Only these job kinds (comma-separated).") var kinds: String?
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus /metrics and /healthz on this port.")
    var metricsPort: Int?
    @Option(name: .customLong("metrics-host"), help: "Address the metrics endpoint binds to.") var metricsHost = "0.0.0.0"
    @Flag(name: .customLong("no-listen"), help: "Poll only, without LISTEN/NOTIFY (for PgBouncer transaction pooling).")
    var noListen = false
    @Flag(help: "Exit 0 once no job this worker may take is available or running.") var drain = false
    @Option(name: .customLong("log-format"), help: "text or json.") var logFormat = "text"
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"
    @Option(name: .customLong("batch-size"), help: "Most jobs claimed per round trip.") var batchSize = 100
    @Option(name: .customLong("lease-seconds"), help: "Lease of a claimed job; heartbeats every third of it.") var leaseSeconds = 30.0
    @Option(name: .customLong("poll-interval-ms"), help: "Polling interval (default 1000 with LISTEN, 200 without).")
    var pollIntervalMilliseconds: Int?
    @Option(name: .customLong("shutdown-grace-seconds"), help: "Time running jobs get to finish after SIGTERM.")
    var shutdownGraceSeconds = 30.0
    @Option(name: .customLong("retry-base-seconds"), help: "Backoff after the first failed attempt (doubles each time, ±10% jitter).")
    var retryBaseSeconds = 15.0
    @Option(name: .customLong("retention-completed-seconds"), help: "Completed and cancelled jobs are pruned after this age.")
    var retentionCompletedSeconds = 86_400.0
    @Option(name: .customLong("retention-discarded-seconds"), help: "Discarded jobs are pruned after this age.")
    var retentionDiscardedSeconds = 604_800.0
    @Option(name: .customLong("claim-connections"), help: "Claim loops, each with its own connection (default: 2 when --concurrency is at least twice --batch-size, else 1).")
    var claimConnections: Int?
    @Flag(name: .customLong("durable-claims"), help: "Wait for the WAL flush when committing claims (slower; see BENCHMARKS.md).")
    var durableClaims = false
    @Flag(name: .customLong("no-schedules"), help: "Do not evaluate tenants' cron schedules (they are never evaluated with --drain).")
    var noSchedules = false
    @Option(name: .customLong("schedule-interval-seconds"), help: "How often tenants' cron schedules are evaluated.")
    var scheduleIntervalSeconds = 5.0

    func validate() throws {
        typealias Limits = WorkerConfiguration.Limits
        func within<Value: Comparable>(_ flag: String, _ value: Value, _ range: ClosedRange<Value>, _ unit: String = "") throws {
            guard range.contains(value) else {
                throw ValidationError("\(flag) \(value) is out of range: use \(range.lowerBound) to \(range.upperBound)\(unit)")
            }
        }
        func seconds(_ range: ClosedRange<Duration>) -> ClosedRange<Double> { range.lowerBound.inSeconds...range.upperBound.inSeconds }
        try within("--concurrency", concurrency, Limits.concurrency)
        try within("--batch-size", batchSize, Limits.batchSize)
        if let claimConnections { try within("--claim-connections", claimConnections, Limits.claimConnections) }
        try within("--lease-seconds", leaseSeconds, seconds(Limits.lease), " seconds")
        try within("--schedule-interval-seconds", scheduleIntervalSeconds, 0.1...3600, " seconds")
        try within("--shutdown-grace-seconds", shutdownGraceSeconds, seconds(Limits.shutdownGracePeriod), " seconds")
        try within("--retry-base-seconds", retryBaseSeconds, seconds(Limits.retryBase), " seconds")
        try within("--retention-completed-seconds", retentionCompletedSeconds, seconds(Limits.retention), " seconds")
        try within("--retention-discarded-seconds", retentionDiscardedSeconds, seconds(Limits.retention), " seconds")
        if let pollIntervalMilliseconds {
            try within("--poll-interval-ms", pollIntervalMilliseconds, Int(Limits.pollInterval.lowerBound.inMilliseconds)...Int(Limits.pollInterval.upperBound.inMilliseconds))
        }
        guard LogSetup.formats.contains(logFormat) else { throw ValidationError("--log-format must be text or json, not \(logFormat)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if let kinds {
            for kind in Self.split(kinds) where !JobCatalog.kinds.contains(kind) {
                throw ValidationError("unknown job kind \"\(kind)\" in --kinds: expected \(JobCatalog.kinds.joined(separator: ", "))")
            }
        }
        if let metricsPort, !(1...65535).contains(metricsPort) {
            throw ValidationError("--metrics-port \(metricsPort) is not a TCP port (1-65535)")
        }
    }

    static func split(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        LogSetup.bootstrap(format: logFormat, level: Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "encours.worker")
        let registry = metricsPort.map { _ in MetricsServer.bootstrapMetrics() }
        let url: String
        let tenantIDs: [Int64]?
        let excludedIDs: [Int64]?
        do {
            url = try DatabaseURL.resolve(flag: databaseURL, environment: ProcessInfo.processInfo.environment)
            let (included, excluded) = (tenants.map(Self.split), excludeTenants.map(Self.split))
            (tenantIDs, excludedIDs) = try await PostgresSession.once(connectionString: url, name: "encours-startup") { connection in
                (try included.map { try TenantStore.ids(slugs: $0, on: connection) },
                 try excluded.map { try TenantStore.ids(slugs: $0, on: connection) })
            }
        } catch {
            Self.fail(error)
        }

        let configuration = WorkerConfiguration(
            concurrency: concurrency,
            batchSize: batchSize,
            lease: .milliseconds(Int64(leaseSeconds * 1000)),
            pollInterval: pollIntervalMilliseconds.map { .milliseconds($0) },
            listen: !noListen,
            drain: drain,
            tenantIDs: tenantIDs,
            excludedTenantIDs: excludedIDs,
            kinds: kinds.map(Self.split),
            retryPolicy: RetryPolicy(base: .milliseconds(Int64(retryBaseSeconds * 1000))),
            shutdownGracePeriod: .milliseconds(Int64(shutdownGraceSeconds * 1000)),
            completedRetention: .milliseconds(Int64(retentionCompletedSeconds * 1000)),
            discardedRetention: .milliseconds(Int64(retentionDiscardedSeconds * 1000)),
            durableClaims: durableClaims,
            claimConnections: claimConnections)
        do { try configuration.validate() } catch { Self.fail(error) }
        let environment = ProcessInfo.processInfo.environment
        let delivery = DeliveryConfiguration(
            smtpURL: environment["ENCOURS_SMTP_URL"].flatMap { $0.isEmpty ? nil : $0 },
            defaultFrom: environment["ENCOURS_SMTP_FROM"].flatMap { $0.isEmpty ? nil : $0 },
            outboxDirectory: environment["ENCOURS_OUTBOX_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "outbox")
        let handlers: [any JobHandler]
        do { handlers = try JobCatalog.handlers(delivery: delivery) } catch { Self.fail(error) }
        let worker = QueueWorker(connectionString: url, configuration: configuration, handlers: handlers, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)
        ]
        if !drain && !noSchedules {
            // Every worker evaluates the schedules; each instant is enqueued once, by whichever pass comes first.
            let scheduler = TenantScheduler(
                connectionString: url, configuration: SchedulerConfiguration(interval: .milliseconds(Int64(scheduleIntervalSeconds * 1000))),
                logger: logger)
            services.append(.init(service: scheduler, successTerminationBehavior: .ignore))
        }
        if metricsPort != nil {
            // Receivables gauges, read by the queue's elected maintainer only.
            services.append(.init(
                service: ReceivablesGauges(connectionString: url, isLeader: { worker.isMaintainer }, logger: logger),
                successTerminationBehavior: .ignore))
        }
        if let metricsPort, let registry {
            let server = MetricsServer(registry: registry, host: metricsHost, port: metricsPort, logger: logger) {
                worker.healthReport()
            }
            // First in the group, so it shuts down last: /healthz and /metrics answer while jobs drain.
            services.insert(.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup), at: 0)
        }
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A handler that ignores cancellation cannot hold SIGTERM forever: past the grace period,
        // the time to record results and a margin, the worker is cancelled; if that does not end
        // it within 10 s the process stops (its jobs' leases lapse and they are rescued elsewhere).
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod + configuration.finalRecordTimeout + .seconds(10)
        groupConfiguration.maximumCancellationDuration = .seconds(10)
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            Self.fail(error)
        }
    }

    /// Prints `encours-worker: MESSAGE` on stderr and exits 1.
    static func fail(_ error: any Error) -> Never {
        FileHandle.standardError.write(Data("encours-worker: \(ErrorMessage.line(for: error))\n".utf8))
        Foundation.exit(1)
    }
}
