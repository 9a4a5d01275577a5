import EncoursLedgerStore
import EncoursQueue
import EncoursTenancy
import Foundation

/// JSON and text rendering for the CLI: stable snake_case fields, ISO 8601 times.
public enum Output {
    /// Pretty, key-sorted JSON.
    public static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder().encode(value), as: UTF8.self)
    }

    /// The same text as ``json(_:)`` gives for `values`, handed to `write` in pieces of about
    /// 64 KiB: each element is encoded alone and indented, so a list of 100,000 rows never
    /// exists as one string (`risk show --json` of 100,000 customers peaked at 645 MB).
    public static func writeJSONArray<T: Encodable>(_ values: [T], to write: ([UInt8]) throws -> Void) throws {
        guard !values.isEmpty else { return try write(Array(try json(values).utf8)) }
        let encoder = encoder()
        var chunk: [UInt8] = Array("[\n".utf8)
        for (index, value) in values.enumerated() {
            // Pretty JSON escapes newlines inside strings: every raw newline starts a line, which
            // is indented unless it stays empty (an empty array's inner line).
            var lineStart = true
            for byte in try encoder.encode(value) {
                if lineStart, byte != UInt8(ascii: "\n") { chunk.append(contentsOf: "  ".utf8) }
                chunk.append(byte)
                lineStart = byte == UInt8(ascii: "\n")
            }
            chunk.append(contentsOf: (index == values.count - 1 ? "\n]" : ",\n").utf8)
            if chunk.count >= 1 << 16 {
                try write(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        try write(chunk)
    }

    /// The CLI's encoder: pretty, sorted keys, unescaped slashes, ISO 8601 times.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(iso8601(date))
        }
        return encoder
    }

    /// `2026-11-30T03:14:12.123Z`.
    public static func iso8601(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted))
    }

    /// Left-aligned columns separated by two spaces.
    ///
    /// Widths count characters (grapheme clusters), so a cell is padded, never cut: padding to a
    /// UTF-16 length cut the last letters of names with emoji. A terminal shows emoji and CJK
    /// characters two columns wide, so such rows end one column later per character.
    public static func table(_ header: [String], _ rows: [[String]]) -> String {
        let counts = ([header] + rows).map { $0.map(\.count) }
        var widths = counts[0]
        for row in counts.dropFirst() {
            for (index, count) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], count) }
        }
        var out = ""
        for (cells, lengths) in zip([header] + rows, counts) {
            if !out.isEmpty { out.append("\n") }
            for (index, cell) in cells.enumerated() {
                if index > 0 { out.append("  ") }
                out.append(cell)
                if index < cells.count - 1, index < widths.count {
                    out.append(String(repeating: " ", count: widths[index] - lengths[index]))
                }
            }
        }
        return out
    }
}

/// Any JSON value, to embed payloads and settings as JSON rather than strings.
public enum JSONValue: Encodable, Sendable, Hashable {
    case null, bool(Bool), number(String), string(String), array([JSONValue]), object([String: JSONValue])

    /// Parses JSON text; text that is not JSON becomes a string.
    public init(parsing text: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            self = .string(text)
            return
        }
        self = JSONValue(any: object)
    }

    init(any value: Any) {
        switch value {
        case is NSNull: self = .null
        case let number as NSNumber:
            // JSONSerialization boxes true/false in a Boolean-typed NSNumber.
            if String(describing: type(of: value)).contains("Bool") {
                self = .bool(number.boolValue)
            } else {
                self = .number(number.stringValue)
            }
        case let text as String: self = .string(text)
        case let array as [Any]: self = .array(array.map(JSONValue.init(any:)))
        case let object as [String: Any]: self = .object(object.mapValues(JSONValue.init(any:)))
        default: self = .string(String(describing: value))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .number(let text):
            var container = encoder.singleValueContainer()
            if let integer = Int64(text) { try container.encode(integer) } else { try container.encode(Double(text) ?? 0) }
        case .string(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .array(let values):
            var container = encoder.unkeyedContainer()
            for value in values { try container.encode(value) }
        case .object(let fields):
            var container = encoder.container(keyedBy: DynamicKey.self)
            for (key, value) in fields { try container.encode(value, forKey: DynamicKey(key)) }
        }
    }
}

/// A job as the CLI shows it.
public struct JobView: Encodable, Sendable {
    public var id: Int64
    public var tenant: String
    public var kind: String
    public var state: String
    public var priority: Int
    public var payload: JSONValue
    public var runAt: Date
    public var attempt: Int
    public var maxAttempts: Int
    public var uncountedAttempts: Int
    public var errors: [JobAttemptError]
    public var errorsDropped: Int
    public var uniqueKey: String?
    public var attemptedBy: [String]
    public var workerID: String?
    public var cancelRequested: Bool
    public var createdAt: Date
    public var attemptedAt: Date?
    public var finalizedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, tenant, kind, state, priority, payload, attempt, errors
        case runAt = "run_at"
        case maxAttempts = "max_attempts"
        case uncountedAttempts = "uncounted_attempts"
        case errorsDropped = "errors_dropped"
        case uniqueKey = "unique_key"
        case attemptedBy = "attempted_by"
        case workerID = "worker_id"
        case cancelRequested = "cancel_requested"
        case createdAt = "created_at"
        case attemptedAt = "attempted_at"
        case finalizedAt = "finalized_at"
    }

    public init(_ job: Job, tenantSlug: String) {
        id = job.id
        tenant = tenantSlug
        kind = job.kind
        state = job.state.rawValue
        priority = job.priority
        payload = JSONValue(parsing: job.payload)
        runAt = job.runAt
        attempt = job.attempt
        maxAttempts = job.maxAttempts
        uncountedAttempts = job.uncountedAttempts
        errors = job.errors
        errorsDropped = job.errorsDropped
        uniqueKey = job.uniqueKey
        attemptedBy = job.attemptedBy
        workerID = job.workerID
        cancelRequested = job.cancelRequested
        createdAt = job.createdAt
        attemptedAt = job.attemptedAt
        finalizedAt = job.finalizedAt
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(tenant, forKey: .tenant)
        try container.encode(kind, forKey: .kind)
        try container.encode(state, forKey: .state)
        try container.encode(priority, forKey: .priority)
        try container.encode(payload, forKey: .payload)
        try container.encode(runAt, forKey: .runAt)
        try container.encode(attempt, forKey: .attempt)
        try container.encode(maxAttempts, forKey: .maxAttempts)
        try container.encode(uncountedAttempts, forKey: .uncountedAttempts)
        try container.encode(errors, forKey: .errors)
        try container.encode(errorsDropped, forKey: .errorsDropped)
        try container.encode(uniqueKey, forKey: .uniqueKey)
        try container.encode(attemptedBy, forKey: .attemptedBy)
        try container.encode(workerID, forKey: .workerID)
        try container.encode(cancelRequested, forKey: .cancelRequested)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(attemptedAt, forKey: .attemptedAt)
        try container.encode(finalizedAt, forKey: .finalizedAt)
    }
}

/// A tenant as the CLI shows it (secrets masked, defaults filled in).
public struct TenantView: Encodable, Sendable {
    public var slug: String
    public var name: String
    public var currency: String
    public var locale: String
    public var timezone: String
    public var maxConcurrentJobs: Int?
    public var settings: [String: JSONValue]
    public var createdAt: Date
    /// Counts and totals of the tenant's ledger, when read.
    public var ledger: LedgerSummary?

    enum CodingKeys: String, CodingKey {
        case slug, name, currency, locale, timezone, settings, ledger
        case maxConcurrentJobs = "max_concurrent_jobs"
        case createdAt = "created_at"
    }

    public init(_ tenant: Tenant) {
        slug = tenant.slug
        name = tenant.name
        currency = tenant.currency
        locale = tenant.locale
        timezone = tenant.timezone
        maxConcurrentJobs = tenant.maxConcurrentJobs
        var settings: [String: JSONValue] = [:]
        for (key, defaultValue) in TenantSettings.documented {
            settings[key] = defaultValue.map(JSONValue.string) ?? .null
        }
        for (key, value) in tenant.settings {
            if key == "escalation_policy" {
                settings[key] = JSONValue(parsing: value)
            } else {
                settings[key] = .string(TenantSettings.displayed(value, key: key))
            }
        }
        self.settings = settings
        createdAt = tenant.createdAt
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(slug, forKey: .slug)
        try container.encode(name, forKey: .name)
        try container.encode(currency, forKey: .currency)
        try container.encode(locale, forKey: .locale)
        try container.encode(timezone, forKey: .timezone)
        try container.encode(maxConcurrentJobs, forKey: .maxConcurrentJobs)
        try container.encode(settings, forKey: .settings)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encodeIfPresent(ledger, forKey: .ledger)
    }

    /// `key: value` lines.
    public var text: String {
        var lines = [
            "slug: \(slug)", "name: \(name)", "currency: \(currency)", "locale: \(locale)", "timezone: \(timezone)",
            "max_concurrent_jobs: \(maxConcurrentJobs.map(String.init) ?? "none")",
        ]
        for key in settings.keys.sorted() {
            let value: String
            switch settings[key] {
            case .string(let text)?: value = text
            case .null?, nil: value = "(unset)"
            case let other?: value = (try? Output.json(other).replacingOccurrences(of: "\n", with: "")) ?? ""
            }
            lines.append("\(key): \(value)")
        }
        if let ledger {
            lines.append("customers: \(ledger.customers)")
            lines.append("invoices: \(ledger.invoices) (credit notes: \(ledger.creditNotes))")
            lines.append("payments: \(ledger.payments)")
            lines.append("open disputes: \(ledger.openDisputes)")
            lines.append("promises: \(ledger.promises)")
            for total in ledger.totals {
                lines.append("open balance \(total.currency): \(total.openBalance) in \(total.openInvoices) invoices, overdue \(total.overdueBalance)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
