import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// Serves Prometheus `/metrics` and a `/healthz` probe over HTTP, as a `Service`.
public struct MetricsServer: Service {
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
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    public init(registry: PrometheusCollectorRegistry, host: String = "0.0.0.0", port: Int, logger: Logger, health: @escaping HealthCheck) {
        self.registry = registry
        self.host = host
        self.port = port
        self.logger = logger
        self.health = health
    }

    public func run() async throws {
        let router = Router()
        let registry = self.registry
        let health = self.health
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
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
