import EncoursJobs
import EncoursLedgerStore
import EncoursMigrations
import EncoursPostgres
import EncoursQueue
import EncoursTenancy
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

        /// Checks what can be checked without the database: every field, with the flag it came from.
        public func validate() throws {
            do { try JobCatalog.validate(kind: kind) } catch { throw AdminError(.invalidInput, error.message) }
            guard (1...4).contains(priority) else {
                throw AdminError(.invalidInput, "invalid --priority \(priority): use 1 (most urgent) to 4")
            }
            guard (1...JobQueue.maximumCopies).contains(count) else {
                throw AdminError(.invalidInput, "invalid --count \(count): use 1 to \(JobQueue.maximumCopies) per call")
            }
            guard (1...NewJob.maximumAttempts).contains(maxAttempts) else {
                throw AdminError(.invalidInput, "invalid --max-attempts \(maxAttempts): use 1 to \(NewJob.maximumAttempts)")
            }
            if let uniqueKey, uniqueKey.isEmpty || uniqueKey.utf8.count > NewJob.maximumUniqueKeyBytes {
                throw AdminError(
                    .invalidInput, "invalid --unique-key: \(uniqueKey.utf8.count) bytes; use 1 to \(NewJob.maximumUniqueKeyBytes)")
            }
            do { try JobCatalog.validate(kind: kind, payload: payload) } catch {
                throw AdminError(.invalidInput, "invalid --payload: \(error.message)")
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
    public static func enqueue(
        _ request: EnqueueRequest, progress: ((Int) -> Void)? = nil, on connection: PostgresConnection
    ) throws -> EnqueueOutcome {
        try request.validate()
        do {
            return try insert(request, progress: progress, on: connection)
        } catch let error as PostgresError where ["22P02", "22P05"].contains(error.sqlState ?? "") {
            // JSON Foundation reads but PostgreSQL does not (a trailing comma, a lone surrogate).
            throw AdminError(.invalidInput, "invalid --payload: PostgreSQL cannot store it as JSON (\(error.message)\(error.detail.map { ": \($0)" } ?? ""))")
        }
    }

    /// The insert of ``enqueue(_:progress:on:)``, in one transaction.
    private static func insert(
        _ request: EnqueueRequest, progress: ((Int) -> Void)?, on connection: PostgresConnection
    ) throws -> EnqueueOutcome {
        try connection.transaction { connection in
            let tenant = try TenantStore.find(slug: request.tenantSlug, on: connection)
            let runAt = try request.runAt.map { try parseRunAt($0, timezone: tenant.timezone, on: connection) }
            let job = NewJob(
                tenantID: tenant.id, kind: request.kind, payload: request.payload, priority: request.priority,
                runAt: runAt, maxAttempts: request.maxAttempts, uniqueKey: request.uniqueKey)
            if request.count == 1 {
                let result = try JobQueue.enqueue([job], on: connection)
                return EnqueueOutcome(inserted: result.insertedIDs.count, jobIDs: result.insertedIDs, skippedAsDuplicate: result.skippedAsDuplicate)
            }
            // Statements of 100,000 in the one transaction (all or nothing), so progress can be shown.
            var inserted = 0
            var left = request.count
            while left > 0 {
                let chunk = min(left, 100_000)
                inserted += try JobQueue.enqueueCopies(of: job, count: chunk, on: connection)
                left -= chunk
                progress?(request.count - left)
            }
            return EnqueueOutcome(inserted: inserted, jobIDs: [], skippedAsDuplicate: request.count - inserted)
        }
    }

    /// Reads a payload from a file, or standard input for `-`: at most 1 MiB, valid UTF-8.
    public static func readPayload(path: String) throws -> String {
        let limit = JobPayload.maximumBytes
        let data: Data
        if path == "-" {
            do {
                data = try FileHandle.standardInput.read(upToCount: limit + 1) ?? Data()
            } catch {
                throw AdminError(.invalidInput, "invalid --payload-file -: standard input cannot be read (\(error.localizedDescription))")
            }
        } else {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw AdminError(.invalidInput, "\(path): no such file, or not readable")
            }
            defer { try? handle.close() }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw AdminError(.invalidInput, "invalid --payload-file \(path): is a directory, not a file")
            }
            do {
                data = try handle.read(upToCount: limit + 1) ?? Data()
            } catch {
                throw AdminError(.invalidInput, "invalid --payload-file \(path): cannot be read (\(error.localizedDescription))")
            }
        }
        let name = path == "-" ? "standard input" : path
        guard data.count <= limit else {
            throw AdminError(.invalidInput, "invalid --payload-file \(name): more than \(limit) bytes (1 MiB)")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            let valid = Self.validUTF8Prefix(data)
            throw AdminError(.invalidInput, "invalid --payload-file \(name): not valid UTF-8 at byte \(valid + 1)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How many leading bytes of `data` are valid UTF-8.
    static func validUTF8Prefix(_ data: Data) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = data.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput, .error: return offset
            }
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

extension Admin {
    /// The tenant's notifications from `source` (`risk_recalc`, `dispute_escalation`), newest first.
    static func notifications(tenantSlug: String, source: String, limit: Int, on connection: PostgresConnection) throws -> [NotificationStore.View] {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        do {
            return try TenantScope.transaction(tenantID: tenant.id, commit: false, on: connection) {
                try NotificationStore.list(source: source, limit: limit, on: $0)
            }
        } catch let error as LedgerStoreError {
            throw AdminError(.invalidInput, error.message)
        }
    }

    /// Enqueues `job`, which has a unique key, unless a job with that key is still waiting or
    /// running: then returns that one. `finishing` names the work for the rare race where the
    /// other job ends between the two statements ("a dunning run of acme at 2026-12-02").
    static func enqueueOnce(_ job: NewJob, finishing: String, on connection: PostgresConnection) throws -> (id: Int64, alreadyQueued: Bool) {
        if let id = try JobQueue.enqueue([job], on: connection).insertedIDs.first { return (id, false) }
        let existing = try connection.query(
            """
            SELECT id FROM encours.jobs
            WHERE tenant_id = $1 AND kind = $2 AND unique_key = $3
              AND state IN ('available', 'scheduled', 'running', 'retryable')
            """, [job.tenantID, job.kind, job.uniqueKey])
        guard let row = existing.first else {
            throw AdminError(.conflict, "\(finishing) was just finishing; run the command again")
        }
        return (try row.decode(0), true)
    }
}
