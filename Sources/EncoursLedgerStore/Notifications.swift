import EncoursLedger
import EncoursPostgres
import Foundation

/// Messages to the tenant itself (risk alerts; dispute escalations later), delivered by the
/// `reminder.deliver` jobs with the same status machine as reminders: `pending` → `sent` | `failed`.
public enum NotificationStore {
    /// A pending notification with what its transport needs.
    public struct Delivery: Sendable {
        public var id: Int64
        public var source: String
        public var channel: String
        /// The email address, or the webhook URL, written when the alert was raised.
        public var recipient: String
        public var subject: String
        public var text: String
        /// The JSON event (the webhook's body).
        public var payload: String
        public var tenantName: String
        public var tenantSlug: String
        /// Tenant settings the transports read (`smtp_from`, `webhook_secret`).
        public var settings: [String: String]
    }

    /// Alerts per webhook event of a recalculation (and listed in its email).
    public static let alertsPerEvent = RiskAlertNotice.maximumListedInDigest

    /// The notification `notificationID` of the current tenant scope while it is `pending`; nil once sent or failed.
    ///
    /// A recalculation's notification gets its JSON here, from its part of the alerts and the
    /// scores they were raised with: `{"event": "risk.alerts", "recalc_id", "as_of", "total",
    /// "part", "parts", "alerts": [{"event": "risk.alert", ...}]}`.
    @available(*, noasync)
    public static func pending(notificationID: Int64, on connection: PostgresConnection) throws -> Delivery? {
        guard let row = try connection.query(
            """
            SELECT n.source, n.channel, n.recipient, n.subject, n.text_body,
                   coalesce(n.payload::text, CASE WHEN n.source = 'risk_recalc' THEN (
                       SELECT jsonb_build_object(
                                  'event', 'risk.alerts', 'recalc_id', n.source_id, 'as_of', r.as_of::text, 'total', r.alerts,
                                  'part', n.part + 1, 'parts', (r.alerts + $2 - 1) / $2,
                                  'alerts', jsonb_agg(jsonb_build_object(
                                      'event', 'risk.alert', 'alert_id', e.alert_id, 'kind', e.kind, 'customer_id', e.customer_id,
                                      'customer_name', c.name, 'as_of', s.as_of::text, 'from_grade', e.from_grade, 'grade', s.grade,
                                      'score', s.score, 'currency', s.currency, 'exposure', encours.format_cents(s.exposure_cents),
                                      'overdue', encours.format_cents(s.overdue_cents),
                                      'credit_limit', encours.format_cents(s.credit_limit_cents), 'recommendation', s.recommendation)
                                  ORDER BY e.alert_id))::text
                       FROM (
                           SELECT a.* FROM encours.risk_alerts a
                           WHERE a.tenant_id = n.tenant_id AND a.recalc_id = n.source_id
                           ORDER BY a.alert_id OFFSET n.part * $2 LIMIT $2
                       ) e
                       JOIN encours.risk_recalcs r ON r.tenant_id = e.tenant_id AND r.recalc_id = e.recalc_id
                       JOIN encours.risk_scores s
                         ON s.tenant_id = e.tenant_id AND s.customer_id = e.customer_id AND s.as_of = r.as_of AND s.recalc_id = e.recalc_id
                       JOIN encours.customers c ON c.tenant_id = e.tenant_id AND c.customer_id = e.customer_id
                       GROUP BY r.as_of, r.alerts
                   ) END, '{}'),
                   t.name, t.slug, t.settings::text
            FROM encours.notifications n
            JOIN encours.tenants t ON t.id = n.tenant_id
            WHERE n.notification_id = $1 AND n.status = 'pending'
            """, [notificationID, alertsPerEvent]
        ).first else { return nil }
        let settings = DeliveryStatus.stringSettings(json: try row.decode(8, as: String.self))
        return Delivery(
            id: notificationID, source: try row.decode(0), channel: try row.decode(1), recipient: try row.decode(2),
            subject: try row.decode(3), text: try row.decode(4), payload: try row.decode(5), tenantName: try row.decode(6),
            tenantSlug: try row.decode(7), settings: settings)
    }

    /// Records what a delivery job did with each notification: sent, failed with its reason, or
    /// an attempt counted for a retry; only notifications still pending move. Returns how many did.
    @available(*, noasync)
    @discardableResult
    public static func record(_ outcomes: DeliveryOutcomes, on connection: PostgresConnection) throws -> Int {
        try DeliveryStatus.notifications.record(outcomes, on: connection)
    }

    /// A notification as `risk alerts` lists it.
    public struct View: Sendable, Encodable {
        public var id: Int64
        public var source: String
        public var sourceID: Int64
        public var channel: String
        public var recipient: String
        public var subject: String
        public var status: String
        public var failureReason: String?
        enum CodingKeys: String, CodingKey {
            case id, source, channel, recipient, subject, status
            case sourceID = "source_id"
            case failureReason = "failure_reason"
        }
    }

    /// The notifications of the current tenant scope from `source` (`risk_recalc`, ...), newest first.
    @available(*, noasync)
    public static func list(source: String, limit: Int, on connection: PostgresConnection) throws -> [View] {
        guard limit > 0 else { throw LedgerStoreError("invalid --limit \(limit): expected a positive number") }
        return try connection.query(
            """
            SELECT notification_id, source, source_id, channel, recipient, subject, status, failure_reason
            FROM encours.notifications WHERE source = $2 ORDER BY notification_id DESC LIMIT $1
            """, [limit, source]
        ).rows.map {
            View(
                id: try $0.decode(0), source: try $0.decode(1), sourceID: try $0.decode(2), channel: try $0.decode(3),
                recipient: try $0.decode(4), subject: try $0.decode(5), status: try $0.decode(6), failureReason: try $0.decode(7))
        }
    }
}
