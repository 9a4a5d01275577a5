import EncoursPostgres
import Foundation

/// The delivery status machine shared by reminders and notifications: `pending` → `sent` |
/// `failed`, with the attempts counted. Each move applies only to a row still pending.
struct DeliveryStatus {
    /// The table (`reminders`, `notifications`) and its id column: identifiers from the two
    /// instances below (the initializer is private), never input; every value is a bind parameter.
    let table: String
    let idColumn: String

    private init(table: String, idColumn: String) {
        self.table = table
        self.idColumn = idColumn
    }

    static let reminders = DeliveryStatus(table: "reminders", idColumn: "reminder_id")
    static let notifications = DeliveryStatus(table: "notifications", idColumn: "notification_id")

    /// Marks the row `sent`; false when it was not pending any more.
    @available(*, noasync)
    func markSent(_ id: Int64, on connection: PostgresConnection) throws -> Bool {
        try connection.query(
            """
            UPDATE encours.\(table) SET status = 'sent', sent_at = now(), delivery_attempts = delivery_attempts + 1
            WHERE \(idColumn) = $1 AND status = 'pending'
            """, [id]
        ).affectedRows == 1
    }

    /// Marks the row `failed` with its reason (one line, at most 1,000 characters).
    @available(*, noasync)
    func markFailed(_ id: Int64, reason: String, on connection: PostgresConnection) throws -> Bool {
        let line = String(reason.split(whereSeparator: \.isNewline).joined(separator: " ").prefix(1000))
        return try connection.query(
            """
            UPDATE encours.\(table) SET status = 'failed', failure_reason = $2, delivery_attempts = delivery_attempts + 1
            WHERE \(idColumn) = $1 AND status = 'pending'
            """, [id, line.isEmpty ? "failed" : line]
        ).affectedRows == 1
    }

    /// Counts an attempt that failed for now (the job retries it later).
    @available(*, noasync)
    func noteAttempt(_ id: Int64, on connection: PostgresConnection) throws {
        try connection.query(
            "UPDATE encours.\(table) SET delivery_attempts = delivery_attempts + 1 WHERE \(idColumn) = $1 AND status = 'pending'", [id])
    }
}

extension DeliveryStatus {
    /// The string settings of a tenant's settings document (`smtp_from`, `webhook_secret`, ...),
    /// for the transports; other values and a malformed document give nothing.
    static func stringSettings(json: String) -> [String: String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [:] }
        return object.compactMapValues { $0 as? String }
    }
}
