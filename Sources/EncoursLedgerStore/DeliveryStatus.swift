import EncoursPostgres
import Foundation

/// What one delivery job did with each of its messages (reminders or notifications), recorded
/// in one write with the job's completion.
public struct DeliveryOutcomes: Sendable {
    /// Accepted by the server (or written, for letters): `sent`.
    public var sent: [Int64] = []
    /// Refused for good, with the reason: `failed`.
    public var failed: [(id: Int64, reason: String)] = []
    /// Failed for now: the attempt is counted and the job retries them.
    public var retried: [Int64] = []

    public init() {}

    /// How many messages these outcomes cover.
    public var count: Int { sent.count + failed.count + retried.count }
}

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

    /// Records each outcome (three statements at most); returns how many rows were still pending
    /// and moved to `sent` or `failed`.
    @available(*, noasync)
    func record(_ outcomes: DeliveryOutcomes, on connection: PostgresConnection) throws -> Int {
        try noteAttempt(outcomes.retried, on: connection)
        return try markSent(outcomes.sent, on: connection) + markFailed(outcomes.failed, on: connection)
    }

    /// Marks the rows `sent`; returns how many were still pending.
    @available(*, noasync)
    private func markSent(_ ids: [Int64], on connection: PostgresConnection) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try connection.query(
            """
            UPDATE encours.\(table) SET status = 'sent', sent_at = now(), delivery_attempts = delivery_attempts + 1
            WHERE \(idColumn) = ANY ($1::bigint[]) AND status = 'pending'
            """, [ids]
        ).affectedRows
    }

    /// Marks each row `failed` with its reason (one line, at most 1,000 characters); returns how many were still pending.
    @available(*, noasync)
    private func markFailed(_ failures: [(id: Int64, reason: String)], on connection: PostgresConnection) throws -> Int {
        guard !failures.isEmpty else { return 0 }
        let reasons = failures.map { failure -> String in
            let line = String(failure.reason.split(whereSeparator: \.isNewline).joined(separator: " ").prefix(1000))
            return line.isEmpty ? "failed" : line
        }
        return try connection.query(
            """
            UPDATE encours.\(table) t SET status = 'failed', failure_reason = f.reason, delivery_attempts = t.delivery_attempts + 1
            FROM unnest($1::bigint[], $2::text[]) AS f (id, reason)
            WHERE t.\(idColumn) = f.id AND t.status = 'pending'
            """, [failures.map(\.id), reasons]
        ).affectedRows
    }

    /// Counts an attempt that failed for now on each row (the job retries them later).
    @available(*, noasync)
    private func noteAttempt(_ ids: [Int64], on connection: PostgresConnection) throws {
        guard !ids.isEmpty else { return }
        try connection.query(
            "UPDATE encours.\(table) SET delivery_attempts = delivery_attempts + 1 WHERE \(idColumn) = ANY ($1::bigint[]) AND status = 'pending'",
            [ids])
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
