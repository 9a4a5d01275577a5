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
    /// Attempts made so far, including this one while it runs; only ever grows.
    public var attempt: Int
    public var maxAttempts: Int
    /// Attempts that do not count against `maxAttempts`: released at shutdown, or made before a manual retry.
    public var uncountedAttempts: Int
    /// The last 20 failed attempts' errors, oldest first.
    public var errors: [JobAttemptError]
    /// How many older errors were dropped from `errors`.
    public var errorsDropped: Int
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
        id, tenant_id, kind, payload, state, priority, run_at, attempt, max_attempts, uncounted_attempts, errors,
        errors_dropped, unique_key, attempted_by, worker_id, lease_expires_at, cancel_requested, created_at, attempted_at,
        finalized_at
        """

    /// Attempts that count against `maxAttempts`.
    public var countedAttempts: Int { attempt - uncountedAttempts }

    /// Decodes a row holding ``columns``.
    public init(row: PostgresRow) throws {
        try self.init(result: row.result, row: row.index, columns: try ColumnPositions(row.result))
    }

    /// Decodes every row of a result holding ``columns`` (column positions looked up once).
    ///
    /// A claimed batch repeats most cells from row to row (the claim's timestamps, the worker,
    /// jobs enqueued together): a cell whose bytes equal the previous row's reuses its value
    /// instead of being parsed again.
    public static func decodeAll(_ result: PostgresResult) throws -> [Job] {
        guard result.count > 0 else { return [] }
        let positions = try ColumnPositions(result)
        var jobs: [Job] = []
        jobs.reserveCapacity(result.count)
        for row in 0..<result.count {
            jobs.append(try Job(result: result, row: row, columns: positions, previous: jobs.last))
        }
        return jobs
    }

    /// Where each column of ``columns`` is in a result.
    struct ColumnPositions {
        let id, tenantID, kind, payload, state, priority, runAt, attempt, maxAttempts, uncountedAttempts, errors, errorsDropped, uniqueKey,
            attemptedBy, workerID, leaseExpiresAt, cancelRequested, createdAt, attemptedAt, finalizedAt: Int

        init(_ result: PostgresResult) throws {
            func position(_ name: String) throws -> Int {
                guard let index = result.columnIndex(name) else {
                    throw PostgresError(code: .decoding, message: "no column named \(name) in the result")
                }
                return index
            }
            id = try position("id")
            tenantID = try position("tenant_id")
            kind = try position("kind")
            payload = try position("payload")
            state = try position("state")
            priority = try position("priority")
            runAt = try position("run_at")
            attempt = try position("attempt")
            maxAttempts = try position("max_attempts")
            uncountedAttempts = try position("uncounted_attempts")
            errors = try position("errors")
            errorsDropped = try position("errors_dropped")
            uniqueKey = try position("unique_key")
            attemptedBy = try position("attempted_by")
            workerID = try position("worker_id")
            leaseExpiresAt = try position("lease_expires_at")
            cancelRequested = try position("cancel_requested")
            createdAt = try position("created_at")
            attemptedAt = try position("attempted_at")
            finalizedAt = try position("finalized_at")
        }
    }

    init(result: PostgresResult, row: Int, columns: ColumnPositions, previous: Job? = nil) throws {
        /// The previous row's value when this cell's text is the same, else the decoded cell.
        func cell<Value>(_ column: Int, _ field: (Job) -> Value, _ decode: () throws -> Value) rethrows -> Value {
            if let previous, result.sameText(row: row, otherRow: row - 1, column: column) { return field(previous) }
            return try decode()
        }
        id = try result.decode(Int64.self, row: row, column: columns.id)
        tenantID = try cell(columns.tenantID, { $0.tenantID }) { try result.decode(Int64.self, row: row, column: columns.tenantID) }
        kind = try cell(columns.kind, { $0.kind }) { try result.decode(String.self, row: row, column: columns.kind) }
        payload = try cell(columns.payload, { $0.payload }) { try result.decode(String.self, row: row, column: columns.payload) }
        state = try cell(columns.state, { $0.state }) { try result.decode(JobState.self, row: row, column: columns.state) }
        priority = try cell(columns.priority, { $0.priority }) { try result.decode(Int.self, row: row, column: columns.priority) }
        runAt = try cell(columns.runAt, { $0.runAt }) { try result.decode(Date.self, row: row, column: columns.runAt) }
        attempt = try cell(columns.attempt, { $0.attempt }) { try result.decode(Int.self, row: row, column: columns.attempt) }
        maxAttempts = try cell(columns.maxAttempts, { $0.maxAttempts }) { try result.decode(Int.self, row: row, column: columns.maxAttempts) }
        uncountedAttempts = try cell(columns.uncountedAttempts, { $0.uncountedAttempts }) {
            try result.decode(Int.self, row: row, column: columns.uncountedAttempts)
        }
        errorsDropped = try cell(columns.errorsDropped, { $0.errorsDropped }) {
            try result.decode(Int.self, row: row, column: columns.errorsDropped)
        }
        errors = try cell(columns.errors, { $0.errors }) {
            let text = try result.decode(String.self, row: row, column: columns.errors)
            // Most claimed jobs have no errors yet: skip the JSON decoder for them.
            return text == "[]" ? [] : (try? JSONDecoder().decode([JobAttemptError].self, from: Data(text.utf8))) ?? []
        }
        uniqueKey = try cell(columns.uniqueKey, { $0.uniqueKey }) { try result.decode(String?.self, row: row, column: columns.uniqueKey) }
        attemptedBy = try cell(columns.attemptedBy, { $0.attemptedBy }) {
            let text = try result.decode(String.self, row: row, column: columns.attemptedBy)
            return (PostgresArrayLiteral.decode(text) ?? []).compactMap { $0 }
        }
        workerID = try cell(columns.workerID, { $0.workerID }) { try result.decode(String?.self, row: row, column: columns.workerID) }
        leaseExpiresAt = try cell(columns.leaseExpiresAt, { $0.leaseExpiresAt }) {
            try result.decode(Date?.self, row: row, column: columns.leaseExpiresAt)
        }
        cancelRequested = try cell(columns.cancelRequested, { $0.cancelRequested }) {
            try result.decode(Bool.self, row: row, column: columns.cancelRequested)
        }
        createdAt = try cell(columns.createdAt, { $0.createdAt }) { try result.decode(Date.self, row: row, column: columns.createdAt) }
        attemptedAt = try cell(columns.attemptedAt, { $0.attemptedAt }) { try result.decode(Date?.self, row: row, column: columns.attemptedAt) }
        finalizedAt = try cell(columns.finalizedAt, { $0.finalizedAt }) { try result.decode(Date?.self, row: row, column: columns.finalizedAt) }
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

    /// The longest unique key: it must fit in the unique index with the tenant and kind.
    public static let maximumUniqueKeyBytes = 512
    /// The longest kind name.
    public static let maximumKindBytes = 64
    /// The most attempts a job may be given.
    public static let maximumAttempts = 1_000

    /// Checks every field, so PostgreSQL never has to refuse one with a raw error.
    public func validate() throws(QueueError) {
        guard (1...4).contains(priority) else {
            throw QueueError(.invalidInput, "priority \(priority) is out of range: use 1 (most urgent) to 4")
        }
        guard (1...Self.maximumAttempts).contains(maxAttempts) else {
            throw QueueError(.invalidInput, "max_attempts \(maxAttempts) is out of range: use 1 to \(Self.maximumAttempts)")
        }
        guard !kind.isEmpty, kind.utf8.count <= Self.maximumKindBytes, !kind.utf8.contains(0) else {
            throw QueueError(.invalidInput, "job kind \"\(JobPayload.excerpt(kind))\" must be 1 to \(Self.maximumKindBytes) bytes")
        }
        if let uniqueKey {
            guard !uniqueKey.isEmpty, uniqueKey.utf8.count <= Self.maximumUniqueKeyBytes else {
                throw QueueError(
                    .invalidInput, "unique key is \(uniqueKey.utf8.count) bytes; use 1 to \(Self.maximumUniqueKeyBytes)")
            }
            guard !uniqueKey.utf8.contains(0) else { throw QueueError(.invalidInput, "unique key contains a NUL character") }
        }
        _ = try JobPayload(payload)
    }
}
