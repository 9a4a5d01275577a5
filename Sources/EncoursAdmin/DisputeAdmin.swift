import EncoursJobs
import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue
import EncoursTenancy
import Foundation

/// The `disputes` commands of the CLI: each resolves the tenant slug, then calls the ledger store.
public enum DisputeAdmin {
    /// `encours disputes open`: the dispute, and the risk recalculation of its customer enqueued with it.
    public static func open(
        tenantSlug: String, invoiceID: String, reason: String, note: String?, amount: String?, on connection: PostgresConnection
    ) throws -> Disputes.Dispute {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try Disputes.open(
            tenantID: tenant.id, invoiceID: invoiceID, reason: reason, note: note, amount: amount,
            afterChange: { connection, customer in try LedgerAdmin.enqueueRiskRecalc(tenantID: tenant.id, customerIDs: [customer], on: connection) },
            on: connection)
    }

    /// `encours disputes resolve`: the resolution, and the risk recalculation of its customer enqueued with it.
    public static func resolve(
        tenantSlug: String, disputeID: String, outcome: String, amount: String?, on connection: PostgresConnection
    ) throws -> Disputes.Resolution {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try Disputes.resolve(
            tenantID: tenant.id, disputeID: disputeID, outcome: outcome, amount: amount,
            afterChange: { connection, customer in try LedgerAdmin.enqueueRiskRecalc(tenantID: tenant.id, customerIDs: [customer], on: connection) },
            on: connection)
    }

    /// `encours disputes list`.
    public static func list(tenantSlug: String, status: String?, on connection: PostgresConnection) throws -> [Disputes.Dispute] {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try Disputes.list(tenantID: tenant.id, status: status, on: connection)
    }

    /// `encours disputes show`.
    public static func show(tenantSlug: String, disputeID: String, on connection: PostgresConnection) throws -> Disputes.Detail {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try Disputes.show(tenantID: tenant.id, disputeID: disputeID, on: connection)
    }

    /// `encours disputes notifications`: what escalations told the tiers, newest first.
    public static func notifications(tenantSlug: String, limit: Int, on connection: PostgresConnection) throws -> [NotificationStore.View] {
        try Admin.notifications(tenantSlug: tenantSlug, source: "dispute_escalation", limit: limit, on: connection)
    }

    /// What `disputes escalate` enqueued.
    public struct QueuedEscalation: Sendable, Encodable {
        public var jobID: Int64
        public var tenantID: Int64
        /// T, in UTC.
        public var at: String
        /// True when an escalation at the same T was already waiting (this one is it).
        public var alreadyQueued: Bool
        enum CodingKeys: String, CodingKey {
            case at
            case jobID = "job_id"
            case tenantID = "tenant_id"
            case alreadyQueued = "already_queued"
        }
    }

    /// `encours disputes escalate`: enqueues a `disputes.escalate` of the tenant at `at` (default:
    /// now; without an offset, in the tenant's time zone). The same T still waiting is not enqueued twice.
    public static func enqueueEscalation(tenantSlug: String, at: String?, on connection: PostgresConnection) throws -> QueuedEscalation {
        let instant: EscalationInstant?
        do { instant = try at.map(EscalationInstant.init(parsing:)) } catch {
            throw AdminError(.invalidInput, "invalid --at: \(error.message)")
        }
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try connection.transaction { connection in
            let normalized = try connection.query(
                """
                SELECT to_char(CASE WHEN $2::text IS NULL THEN now()
                                    WHEN $3 THEN $2::timestamptz ELSE $2::timestamp AT TIME ZONE timezone END AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                FROM encours.tenants WHERE id = $1
                """, [tenant.id, instant?.text, instant?.hasOffset ?? false]
            ).decode(String.self, row: 0, column: 0)
            let job = DisputesEscalateHandler.job(tenantID: tenant.id, at: normalized)
            let (id, alreadyQueued) = try Admin.enqueueOnce(job, finishing: "a dispute escalation of \(tenantSlug) at \(normalized)", on: connection)
            return QueuedEscalation(jobID: id, tenantID: tenant.id, at: normalized, alreadyQueued: alreadyQueued)
        }
    }

    /// What a `disputes.escalate` job recorded, for `--wait`: (escalation id, on date, escalated,
    /// breached, notifications); nil when nothing was due.
    public static func recordedEscalation(
        jobID: Int64, tenantID: Int64, on connection: PostgresConnection
    ) throws -> (Int64, String, Int, Int, Int)? {
        try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            guard let row = try connection.query(
                """
                SELECT e.escalation_id, e.on_date::text, e.escalated, e.breached,
                       (SELECT count(*)::int FROM encours.notifications n WHERE n.source = 'dispute_escalation' AND n.source_id = e.escalation_id)
                FROM encours.dispute_escalations e WHERE e.job_id = $1 ORDER BY e.escalation_id DESC LIMIT 1
                """, [jobID]
            ).first else { return nil }
            return (try row.decode(0), try row.decode(1), try row.decode(2), try row.decode(3), try row.decode(4))
        }
    }
}
