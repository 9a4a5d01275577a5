import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// Serves Prometheus `/metrics` and a `/healthz` probe over HTTP, as a `Service`.
public struct MetricsServer: Service, CustomStringConvertible {
    /// Reports whether the process is healthy, with a one-line reason.
    public typealias HealthCheck = @Sendable () -> (healthy: Bool, detail: String)

    private let registry: PrometheusCollectorRegistry
    private let host: String
    private let port: Int
    private let health: HealthCheck
    private let logger: Logger

    /// Bootstraps swift-metrics with a Prometheus registry once per process and returns the registry.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Jobs run from milliseconds (a delivery batch) to minutes (a million-invoice dunning
        // run) and may wait for hours behind a backoff: buckets up to an hour, not the default 10 s.
        let long: [Duration] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
            .seconds(300), .seconds(600), .seconds(1800), .seconds(3600),
        ]
        factory.durationHistogramBuckets = ["encours_job_duration_seconds": long, "encours_job_queue_wait_seconds": long]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    public init(registry: PrometheusCollectorRegistry, host: String = "0.0.0.0", port: Int, logger: Logger, health: @escaping HealthCheck) {
        self.registry = registry
        self.host = host
        self.port = port
        self.logger = logger
        self.health = health
    }

    /// What service-lifecycle logs for this service.
    public var description: String { "MetricsServer(\(host):\(port))" }

    public func run() async throws {
        let router = Router()
        let registry = self.registry
        let health = self.health
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: MetricsCatalog.withHelp(registry.emitToBuffer()))))
        }
        router.get("healthz") { _, _ -> Response in
            let (healthy, detail) = health()
            return Response(
                status: healthy ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: (healthy ? "ok: " : "unhealthy: ") + detail + "\n")))
        }
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "encours-worker"),
            logger: logger)
        // run(), not runService(): the worker's ServiceGroup owns the signals and the shutdown order.
        try await application.run()
    }
}

/// Every metric the worker exports, with its `# HELP` text (swift-metrics carries none; the
/// server adds it to the exposition, so `promtool check metrics` and dashboards have it).
public enum MetricsCatalog {
    public static let help: [String: String] = [
        "encours_jobs_claimed_total": "Jobs claimed by this worker.",
        "encours_jobs_finished_total": "Job attempts ended by this worker, by kind and the state they left the job in.",
        "encours_job_duration_seconds": "Handler run time, by job kind.",
        "encours_job_queue_wait_seconds": "Time from a job's due time (run_at) to its claim, by job kind.",
        "encours_worker_running_jobs": "Jobs running in this worker now.",
        "encours_claim_duration_seconds": "Claim round trips to PostgreSQL.",
        "encours_job_results_dropped_total": "Attempts whose result was not recorded, by reason (stale, lease_lost, unrecorded).",
        "encours_reminders_delivered_total": "Reminders and notifications delivered, by channel and outcome (sent, failed, retried).",
        "encours_database_up": "1 while this worker's last database ping answered, else 0.",
        "encours_queue_jobs": "Unfinished jobs by state, kind and tenant (exported by the elected leader only).",
        "encours_queue_oldest_age_seconds":
            "Age of the oldest unfinished job by state, kind and tenant: since its due time, or its claim when running (leader only).",
        "encours_queue_lapsed_leases": "Running jobs whose lease has lapsed (leader only).",
        "encours_workers_alive": "Workers that heartbeated recently (leader only).",
        "encours_risk_customers": "Customers by tenant and current risk grade (leader only).",
        "encours_disputes_breached": "Unresolved disputes past their last tier's deadline, by tenant (leader only).",
    ]

    /// The exposition with a `# HELP` line before each `# TYPE` line of a metric in ``help``.
    public static func withHelp(_ exposition: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(exposition.count + 2048)
        let typePrefix = Array("# TYPE ".utf8)
        for line in exposition.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.starts(with: typePrefix) {
                let name = String(decoding: line.dropFirst(typePrefix.count).prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let text = help[name] { out += Array("# HELP \(name) \(text)\n".utf8) }
            }
            out += line
            out.append(UInt8(ascii: "\n"))
        }
        if exposition.last == UInt8(ascii: "\n") || exposition.isEmpty { out.removeLast() }
        return out
    }
}
