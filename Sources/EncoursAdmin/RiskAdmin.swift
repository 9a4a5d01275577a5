import EncoursJobs
import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue
import EncoursTenancy
import Foundation

/// The risk commands of the CLI: recalculations, scores and the receivables metrics.
public enum RiskAdmin {
    /// What `risk recalc` enqueued.
    public struct QueuedRecalc: Sendable, Encodable {
        public var jobID: Int64
        public var tenantID: Int64
        public var asOf: String
        public var customerID: String?
        /// True when the same recalculation was already waiting (this one is it).
        public var alreadyQueued: Bool
        enum CodingKeys: String, CodingKey {
            case jobID = "job_id"
            case tenantID = "tenant_id"
            case asOf = "as_of"
            case customerID = "customer_id"
            case alreadyQueued = "already_queued"
        }
    }

    /// `encours risk recalc`: enqueues a `risk.recalc` of the tenant (or one customer) at `asOf`
    /// (default: its today). The same recalculation still waiting is not enqueued twice.
    public static func enqueueRecalc(
        tenantSlug: String, customerID: String?, asOf: String?, on connection: PostgresConnection
    ) throws -> QueuedRecalc {
        let requested = try asOf.map(DunningAdmin.parseDate)
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        if let customerID {
            // Customers are never deleted: one found now is there when the job runs.
            let known = try TenantScope.transaction(tenantID: tenant.id, commit: false, on: connection) {
                try $0.query("SELECT EXISTS (SELECT FROM encours.customers WHERE customer_id = $1)", [customerID])
                    .decode(Bool.self, row: 0, column: 0)
            }
            guard known else { throw AdminError(.notFound, "tenant \(tenantSlug) has no customer \"\(customerID.prefix(64))\"") }
        }
        return try connection.transaction { connection in
            let date = try requested ?? CalendarDate(parsing: connection.query(
                "SELECT (now() AT TIME ZONE timezone)::date::text FROM encours.tenants WHERE id = $1", [tenant.id]
            ).decode(String.self, row: 0, column: 0))
            let job = try RiskRecalcHandler.job(tenantID: tenant.id, asOf: date, customerID: customerID)
            let (id, alreadyQueued) = try Admin.enqueueOnce(
                job, finishing: "a risk recalculation of \(tenantSlug) at \(date.isoString)", on: connection)
            return QueuedRecalc(jobID: id, tenantID: tenant.id, asOf: date.isoString, customerID: customerID, alreadyQueued: alreadyQueued)
        }
    }

    /// What a `risk.recalc` job recorded, for `--wait`: (recalc id, customers, alerts, policy switches); nil when nothing.
    public static func recordedRecalc(jobID: Int64, tenantID: Int64, on connection: PostgresConnection) throws -> (Int64, Int, Int, Int)? {
        try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            guard let row = try connection.query(
                "SELECT recalc_id, customers, alerts, policy_switches FROM encours.risk_recalcs WHERE job_id = $1 ORDER BY recalc_id DESC LIMIT 1",
                [jobID]
            ).first else { return nil }
            return (try row.decode(0), try row.decode(1), try row.decode(2), try row.decode(3))
        }
    }

    /// `encours risk show --tenant T [--customer C] [--history] [--limit N]`.
    public static func show(
        tenantSlug: String, customerID: String?, history: Bool, limit: Int?, on connection: PostgresConnection
    ) throws -> [RiskView] {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        do {
            return try RiskView.list(tenantID: tenant.id, customerID: customerID, history: history, limit: limit, on: connection)
        } catch let error as LedgerStoreError {
            throw AdminError(.invalidInput, error.message)
        }
    }

    /// `encours risk alerts --tenant T`: the notifications risk alerts sent, newest first.
    public static func notifications(tenantSlug: String, limit: Int, on connection: PostgresConnection) throws -> [NotificationStore.View] {
        try Admin.notifications(tenantSlug: tenantSlug, source: "risk_recalc", limit: limit, on: connection)
    }

    /// `encours report dso --tenant T [--as-of D]`.
    public static func dso(tenantSlug: String, asOf: String?, on connection: PostgresConnection) throws -> DSOReport {
        let date = try asOf.map(DunningAdmin.parseDate)
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try DSOReport.compute(tenantID: tenant.id, asOf: date, on: connection)
    }
}
