import EncoursPostgres
import Foundation

/// Where a job is in its life.
public enum JobState: String, Sendable, CaseIterable, Codable, PostgresEncodable, PostgresDecodable {
    case available, scheduled, running, retryable, completed, discarded, cancelled

    public var postgresText: String? { rawValue }
    public init?(postgresText: String) { self.init(rawValue: postgresText) }

    /// True for the states a job never leaves on its own.
    public var isFinal: Bool { self == .completed || self == .discarded || self == .cancelled }
}

/// One failed attempt, as kept on the job.
public struct JobAttemptError: Sendable, Codable, Hashable {
    public var attempt: Int
    public var at: String
    public var error: String
}

/// A job row.
public struct Job: Sendable, Identifiable, Hashable {
    public var id: Int64
    public var tenantID: Int64
    public var kind: String
    /// The payload, a JSON object as text.
    public var payload: String
    public var state: JobState
    public var priority: Int
    public var runAt: Date
    public var attempt: Int
    public var maxAttempts: Int
    public var errors: [JobAttemptError]
    public var uniqueKey: String?
    public var attemptedBy: [String]
    public var workerID: String?
    public var leaseExpiresAt: Date?
    public var cancelRequested: Bool
    public var createdAt: Date
    public var attemptedAt: Date?
    public var finalizedAt: Date?

    /// The columns ``init(row:)`` reads, in `SELECT` form.
    public static let columns = """
        id, tenant_id, kind, payload, state, priority, run_at, attempt, max_attempts, errors, unique_key,
        attempted_by, worker_id, lease_expires_at, cancel_requested, created_at, attempted_at, finalized_at
        """

    /// Decodes a row holding ``columns``.
    public init(row: PostgresRow) throws {
        id = try row.decode("id")
        tenantID = try row.decode("tenant_id")
        kind = try row.decode("kind")
        payload = try row.decode("payload")
        state = try row.decode("state")
        priority = try row.decode("priority")
        runAt = try row.decode("run_at")
        attempt = try row.decode("attempt")
        maxAttempts = try row.decode("max_attempts")
        let errorsText: String = try row.decode("errors")
        errors = (try? JSONDecoder().decode([JobAttemptError].self, from: Data(errorsText.utf8))) ?? []
        uniqueKey = try row.decode("unique_key")
        attemptedBy = (PostgresArrayLiteral.decode(try row.decode("attempted_by")) ?? []).compactMap { $0 }
        workerID = try row.decode("worker_id")
        leaseExpiresAt = try row.decode("lease_expires_at")
        cancelRequested = try row.decode("cancel_requested")
        createdAt = try row.decode("created_at")
        attemptedAt = try row.decode("attempted_at")
        finalizedAt = try row.decode("finalized_at")
    }
}

/// A job to insert.
public struct NewJob: Sendable, Hashable {
    public var tenantID: Int64
    public var kind: String
    /// A JSON object, as text.
    public var payload: String
    /// 1 (most urgent) to 4.
    public var priority: Int
    /// When to run; nil or a past time means now. A future time makes the job `scheduled`.
    public var runAt: Date?
    public var maxAttempts: Int
    /// At most one unfinished job per tenant, kind and unique key.
    public var uniqueKey: String?

    public init(
        tenantID: Int64, kind: String, payload: String = "{}", priority: Int = 2, runAt: Date? = nil,
        maxAttempts: Int = 20, uniqueKey: String? = nil
    ) {
        self.tenantID = tenantID
        self.kind = kind
        self.payload = payload
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.uniqueKey = uniqueKey
    }

    /// Checks the fields PostgreSQL would otherwise reject with a less helpful message.
    public func validate() throws {
        guard (1...4).contains(priority) else {
            throw QueueError(.invalidInput, "priority \(priority) is out of range: use 1 (most urgent) to 4")
        }
        guard maxAttempts > 0 else {
            throw QueueError(.invalidInput, "max_attempts \(maxAttempts) must be at least 1")
        }
        guard !kind.isEmpty else { throw QueueError(.invalidInput, "job kind is empty") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed]),
            object is [String: Any]
        else {
            throw QueueError(.invalidInput, "payload is not a JSON object: \(payload.prefix(80))")
        }
    }
}
