import EncoursPostgres
import EncoursQueue
import EncoursTenancy
import Logging
import ServiceLifecycle

/// The receivables gauges, exported by the queue's elected maintainer only (like the queue
/// gauges): `encours_risk_customers{tenant,grade}` (customers by their current grade) and
/// `encours_disputes_breached{tenant}` (unresolved disputes past their last tier's deadline).
///
/// Read every ``interval`` in each tenant's own scope (row-level security holds for the
/// worker too), two small grouped queries per tenant.
public struct ReceivablesGauges: Service, CustomStringConvertible {
    let connectionString: String
    let interval: Duration
    let isLeader: @Sendable () -> Bool
    let logger: Logger

    public init(connectionString: String, interval: Duration = .seconds(30), isLeader: @escaping @Sendable () -> Bool, logger: Logger) {
        self.connectionString = connectionString
        self.interval = interval
        self.isLeader = isLeader
        self.logger = logger
    }

    /// One reading of every tenant: (tenant, grade, customers) and (tenant, breached disputes).
    @available(*, noasync)
    public static func read(on connection: PostgresConnection) throws -> (grades: [(String, String, Int)], breached: [(String, Int)]) {
        var grades: [(String, String, Int)] = []
        var breached: [(String, Int)] = []
        for tenant in try TenantStore.list(on: connection) {
            try TenantScope.transaction(tenantID: tenant.id, commit: false, on: connection) { connection in
                for row in try connection.query("SELECT grade::text, count(*) FROM encours.customer_risk GROUP BY grade ORDER BY grade").rows {
                    grades.append((tenant.slug, try row.decode(0), try row.decode(1)))
                }
                let count = try connection.query("SELECT count(*) FROM encours.disputes WHERE breached AND status <> 'resolved'")
                    .decode(Int.self, row: 0, column: 0)
                breached.append((tenant.slug, count))
            }
        }
        return (grades, breached)
    }

    /// What service-lifecycle logs for this service: never the connection string (it may hold a password).
    public var description: String { "ReceivablesGauges(every \(interval))" }

    public func run() async throws {
        let session = PostgresSession(connectionString: connectionString, name: "encours-receivables-gauges")
        let (interval, isLeader, logger) = (self.interval, self.isLeader, self.logger)
        await cancelWhenGracefulShutdown {
            let grades = GaugeFamily("encours_risk_customers", labels: ["tenant", "grade"])
            let breached = GaugeFamily("encours_disputes_breached", labels: ["tenant"])
            var exporting = false
            while !Task.isCancelled {
                if isLeader() {
                    do {
                        let readings = try await session.withConnection { try Self.read(on: $0) }
                        grades.set(readings.grades.map { ([$0.0, $0.1], Double($0.2)) })
                        breached.set(readings.breached.map { ([$0.0], Double($0.1)) })
                        exporting = true
                    } catch is CancellationError {
                        break
                    } catch {
                        logger.warning("receivables gauges not read", metadata: ["error": "\(error)"])
                    }
                } else if exporting {
                    grades.withdraw()
                    breached.withdraw()
                    exporting = false
                }
                try? await Task.sleep(for: interval)
            }
            grades.withdraw()
            breached.withdraw()
        }
        await session.close()
    }
}
