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

    /// The notification `notificationID` of the current tenant scope while it is `pending`; nil once sent or failed.
    @available(*, noasync)
    public static func pending(notificationID: Int64, on connection: PostgresConnection) throws -> Delivery? {
        guard let row = try connection.query(
            """
            SELECT n.source, n.channel, n.recipient, n.subject, n.text_body, n.payload::text, t.name, t.slug, t.settings::text
            FROM encours.notifications n
            JOIN encours.tenants t ON t.id = n.tenant_id
            WHERE n.notification_id = $1 AND n.status = 'pending'
            """, [notificationID]
        ).first else { return nil }
        let settings = DeliveryStatus.stringSettings(json: try row.decode(8, as: String.self))
        return Delivery(
            id: notificationID, source: try row.decode(0), channel: try row.decode(1), recipient: try row.decode(2),
            subject: try row.decode(3), text: try row.decode(4), payload: try row.decode(5), tenantName: try row.decode(6),
            tenantSlug: try row.decode(7), settings: settings)
    }

    /// Marks a pending notification `sent`; false when it was not pending any more.
    @available(*, noasync)
    @discardableResult
    public static func markSent(notificationID: Int64, on connection: PostgresConnection) throws -> Bool {
        try DeliveryStatus.notifications.markSent(notificationID, on: connection)
    }

    /// Marks a pending notification `failed` with its reason (one line, at most 1,000 characters).
    @available(*, noasync)
    @discardableResult
    public static func markFailed(notificationID: Int64, reason: String, on connection: PostgresConnection) throws -> Bool {
        try DeliveryStatus.notifications.markFailed(notificationID, reason: reason, on: connection)
    }

    /// Counts a delivery attempt that failed for now (the job retries it later).
    @available(*, noasync)
    public static func noteAttempt(notificationID: Int64, on connection: PostgresConnection) throws {
        try DeliveryStatus.notifications.noteAttempt(notificationID, on: connection)
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

    /// The notifications of the current tenant scope, newest first.
    @available(*, noasync)
    public static func list(limit: Int, on connection: PostgresConnection) throws -> [View] {
        try connection.query(
            """
            SELECT notification_id, source, source_id, channel, recipient, subject, status, failure_reason
            FROM encours.notifications ORDER BY notification_id DESC LIMIT $1
            """, [limit]
        ).rows.map {
            View(
                id: try $0.decode(0), source: try $0.decode(1), sourceID: try $0.decode(2), channel: try $0.decode(3),
                recipient: try $0.decode(4), subject: try $0.decode(5), status: try $0.decode(6), failureReason: try $0.decode(7))
        }
    }
}
