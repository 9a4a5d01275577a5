import EncoursMigrations
import EncoursPostgres
import EncoursQueue
import Foundation

/// What the `encours` commands do, callable from the CLI and from tests alike.
public enum Admin {
    /// Applies pending migrations; returns the names applied now.
    public static func migrate(on connection: PostgresConnection) throws -> [String] {
        try Migrator.migrate(connection).map(\.name)
    }

    /// A validated enqueue request from the CLI.
    public struct EnqueueRequest: Sendable {
        public var kind: String
        public var tenantSlug: String
        public var payload: String
        public var runAt: String?
        public var priority: Int
        public var uniqueKey: String?
        public var count: Int
        public var maxAttempts: Int

        public init(
            kind: String, tenantSlug: String, payload: String = "{}", runAt: String? = nil, priority: Int = 2,
            uniqueKey: String? = nil, count: Int = 1, maxAttempts: Int = 20
        ) {
            self.kind = kind
            self.tenantSlug = tenantSlug
            self.payload = payload
            self.runAt = runAt
            self.priority = priority
            self.uniqueKey = uniqueKey
            self.count = count
            self.maxAttempts = maxAttempts
        }

        /// Checks what can be checked without the database.
        public func validate() throws {
            try JobCatalog.validate(kind: kind)
            guard (1...4).contains(priority) else {
                throw AdminError(.invalidInput, "invalid --priority \(priority): use 1 (most urgent) to 4")
            }
            guard count >= 1 else { throw AdminError(.invalidInput, "invalid --count \(count): must be at least 1") }
            guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed]),
                object is [String: Any]
            else {
                throw AdminError(.invalidInput, "invalid --payload: not a JSON object: \(payload.prefix(80))")
            }
        }
    }

    /// What an enqueue did.
    public struct EnqueueOutcome: Sendable, Encodable {
        public var inserted: Int
        public var jobIDs: [Int64]
        public var skippedAsDuplicate: Int
        enum CodingKeys: String, CodingKey {
            case inserted
            case jobIDs = "job_ids"
            case skippedAsDuplicate = "skipped_as_duplicate"
        }
    }

    /// Enqueues one job (or `count` copies in one statement), all in one transaction.
    public static func enqueue(_ request: EnqueueRequest, on connection: PostgresConnection) throws -> EnqueueOutcome {
        try request.validate()
        return try connection.transaction { connection in
            let tenant = try TenantStore.find(slug: request.tenantSlug, on: connection)
            let runAt = try request.runAt.map { try parseRunAt($0, timezone: tenant.timezone, on: connection) }
            let job = NewJob(
                tenantID: tenant.id, kind: request.kind, payload: request.payload, priority: request.priority,
                runAt: runAt, maxAttempts: request.maxAttempts, uniqueKey: request.uniqueKey)
            if request.count == 1 {
                let result = try JobQueue.enqueue([job], on: connection)
                return EnqueueOutcome(inserted: result.insertedIDs.count, jobIDs: result.insertedIDs, skippedAsDuplicate: result.skippedAsDuplicate)
            }
            let inserted = try JobQueue.enqueueCopies(of: job, count: request.count, on: connection)
            return EnqueueOutcome(inserted: inserted, jobIDs: [], skippedAsDuplicate: request.count - inserted)
        }
    }

    /// Parses `--run-at`: ISO 8601 with an offset (`2026-12-01T09:00:00+01:00`, `...Z`), or a local
    /// date-time (`2026-12-01 09:00`) or date in the tenant's time zone.
    static func parseRunAt(_ text: String, timezone: String, on connection: PostgresConnection) throws -> Date {
        let pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
        guard text.range(of: pattern, options: .regularExpression) != nil else {
            throw AdminError(.invalidInput, "invalid --run-at \"\(text)\": expected ISO 8601 such as 2026-12-01T09:00:00+01:00")
        }
        do {
            return try connection.query(
                """
                SELECT CASE WHEN $1 ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN $1::timestamptz
                            ELSE $1::timestamp AT TIME ZONE $2 END
                """, [text, timezone]
            ).decode(Date.self, row: 0, column: 0)
        } catch let error as PostgresError where error.code == .server {
            throw AdminError(.invalidInput, "invalid --run-at \"\(text)\": \(error.message)")
        }
    }
}
