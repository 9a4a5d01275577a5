import EncoursPostgres
import Foundation

/// A tenant: one company whose receivables Encours runs.
public struct Tenant: Sendable, Hashable {
    public var id: Int64
    public var slug: String
    public var name: String
    public var currency: String
    public var locale: String
    public var timezone: String
    /// Cap on running jobs across all workers; nil for none.
    public var maxConcurrentJobs: Int?
    /// Other settings as stored (strings, and `escalation_policy` as JSON text).
    public var settings: [String: String]
    public var createdAt: Date

    static let columns = "id, slug, name, currency, locale, timezone, max_concurrent_jobs, settings, created_at"

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        slug = try row.decode("slug")
        name = try row.decode("name")
        currency = try row.decode("currency")
        locale = try row.decode("locale")
        timezone = try row.decode("timezone")
        maxConcurrentJobs = try row.decode("max_concurrent_jobs")
        let settingsText: String = try row.decode("settings")
        var settings: [String: String] = [:]
        if let object = try? JSONSerialization.jsonObject(with: Data(settingsText.utf8)) as? [String: Any] {
            for (key, value) in object {
                if let text = value as? String {
                    settings[key] = text
                } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) {
                    settings[key] = String(decoding: data, as: UTF8.self)
                }
            }
        }
        self.settings = settings
        createdAt = try row.decode("created_at")
    }
}

/// An error about tenants: one line naming the tenant.
public struct TenancyError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// No tenant has that slug.
        case notFound = "not_found"
        /// A tenant with that slug exists already.
        case conflict
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Reading and writing the tenants table. Values are stored as given: validating them is the
/// caller's job (the admin commands check every setting before they come here).
public enum TenantStore {
    /// Inserts a tenant; throws `conflict` when the slug is taken.
    public static func create(
        slug: String, name: String, currency: String, locale: String, timezone: String, on connection: PostgresConnection
    ) throws -> Tenant {
        do {
            let row = try connection.query(
                """
                INSERT INTO encours.tenants (slug, name, currency, locale, timezone)
                VALUES ($1, $2, $3, $4, $5) RETURNING \(Tenant.columns)
                """, [slug, name, currency, locale, timezone]
            ).rows.first
            guard let row else { throw TenancyError(.notFound, "tenant \(slug) was not created") }
            return try Tenant(row: row)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw TenancyError(.conflict, "tenant \(slug) already exists")
        }
    }

    /// All tenants by slug.
    public static func list(on connection: PostgresConnection) throws -> [Tenant] {
        try connection.query("SELECT \(Tenant.columns) FROM encours.tenants ORDER BY slug").rows.map(Tenant.init(row:))
    }

    /// The tenant with this slug; throws `unknown tenant` when there is none.
    public static func find(slug: String, on connection: PostgresConnection) throws -> Tenant {
        guard let row = try connection.query("SELECT \(Tenant.columns) FROM encours.tenants WHERE slug = $1", [slug]).rows.first else {
            throw TenancyError(.notFound, "unknown tenant \"\(slug)\"")
        }
        return try Tenant(row: row)
    }

    /// The tenant with this id, or nil.
    public static func find(id: Int64, on connection: PostgresConnection) throws -> Tenant? {
        try connection.query("SELECT \(Tenant.columns) FROM encours.tenants WHERE id = $1", [id]).rows.first.map(Tenant.init(row:))
    }

    /// The ids of these slugs, in order; throws `unknown tenant` for the first that does not exist.
    public static func ids(slugs: [String], on connection: PostgresConnection) throws -> [Int64] {
        try slugs.map { try find(slug: $0, on: connection).id }
    }

    /// A column of the tenants row that `tenant set` may change.
    public enum Column: String, Sendable {
        case name, currency, locale, timezone
    }

    /// Changes one column.
    public static func update(slug: String, _ column: Column, to value: String, on connection: PostgresConnection) throws -> Tenant {
        try updated(slug: slug, connection.query(
            """
            UPDATE encours.tenants SET
                name = CASE WHEN $2 = 'name' THEN $3 ELSE name END,
                currency = CASE WHEN $2 = 'currency' THEN $3 ELSE currency END,
                locale = CASE WHEN $2 = 'locale' THEN $3 ELSE locale END,
                timezone = CASE WHEN $2 = 'timezone' THEN $3 ELSE timezone END
            WHERE slug = $1 RETURNING \(Tenant.columns)
            """, [slug, column.rawValue, value]))
    }

    /// Sets the cap on running jobs (nil removes it).
    public static func updateMaxConcurrentJobs(slug: String, to cap: Int?, on connection: PostgresConnection) throws -> Tenant {
        try updated(slug: slug, connection.query(
            "UPDATE encours.tenants SET max_concurrent_jobs = $2 WHERE slug = $1 RETURNING \(Tenant.columns)", [slug, cap]))
    }

    /// Sets one entry of the settings document: a string, or JSON when `json` is true.
    public static func updateSetting(slug: String, key: String, value: String, json: Bool, on connection: PostgresConnection) throws -> Tenant {
        let sql = json
            ? "UPDATE encours.tenants SET settings = settings || jsonb_build_object($2::text, $3::jsonb) WHERE slug = $1 RETURNING \(Tenant.columns)"
            : "UPDATE encours.tenants SET settings = settings || jsonb_build_object($2::text, $3::text) WHERE slug = $1 RETURNING \(Tenant.columns)"
        return try updated(slug: slug, connection.query(sql, [slug, key, value]))
    }

    /// Removes a key of the tenant's settings document (nothing to do when it has none).
    public static func removeSetting(slug: String, key: String, on connection: PostgresConnection) throws -> Tenant {
        try updated(
            slug: slug,
            connection.query("UPDATE encours.tenants SET settings = settings - $2::text WHERE slug = $1 RETURNING \(Tenant.columns)", [slug, key]))
    }

    private static func updated(slug: String, _ result: PostgresResult) throws -> Tenant {
        guard let row = result.rows.first else { throw TenancyError(.notFound, "unknown tenant \"\(slug)\"") }
        return try Tenant(row: row)
    }
}
