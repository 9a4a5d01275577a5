import EncoursPostgres
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Knows when the database last answered this worker, and pings it so `/healthz` can tell
/// within seconds that it is gone, even while the worker has nothing else to ask.
final class DatabaseHealth: Service, Sendable {
    private let session: PostgresSession
    private let interval: Duration
    private let staleness: Duration
    private let lastContact = Mutex<ContinuousClock.Instant?>(nil)
    private let lastError = Mutex<String?>(nil)
    private let logger: Logger

    init(session: PostgresSession, interval: Duration, staleness: Duration, logger: Logger) {
        self.session = session
        self.interval = interval
        self.staleness = staleness
        self.logger = logger
    }

    /// A round trip to the database succeeded just now.
    func touch() {
        lastContact.withLock { $0 = ContinuousClock.now }
    }

    /// Healthy while the database answered within the staleness window.
    func report() -> (healthy: Bool, detail: String) {
        guard let last = lastContact.withLock({ $0 }) else {
            return (false, "no database round trip yet" + (lastError.withLock { $0 }.map { ": \($0)" } ?? ""))
        }
        let age = ContinuousClock.now - last
        if age > staleness {
            return (false, "no database answer for \(age.inMilliseconds) ms" + (lastError.withLock { $0 }.map { ": \($0)" } ?? ""))
        }
        return (true, "database answered \(age.inMilliseconds) ms ago")
    }

    func run() async {
        // `encours_database_up`: 1 while the last ping answered, 0 after a failed one.
        let up = Gauge(label: "encours_database_up")
        var failing = false
        while !Task.isCancelled {
            do {
                try await session.withConnection { try QueueStatements.ping(on: $0) }
                touch()
                up.record(1)
                lastError.withLock { $0 = nil }
                if failing {
                    logger.notice("database reachable again")
                    failing = false
                }
            } catch is CancellationError {
                return
            } catch {
                up.record(0)
                lastError.withLock { $0 = String(describing: error) }
                if !failing {
                    logger.error("database unreachable", metadata: ["error": "\(error)"])
                    failing = true
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
