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

/// Creating, reading and configuring tenants.
public enum TenantStore {
    /// Creates a tenant; the slug must be new.
    public static func create(
        slug: String, name: String, currency: String = "EUR", locale: String = "fr", timezone: String = "Europe/Paris",
        on connection: PostgresConnection
    ) throws -> Tenant {
        try TenantSettings.validateSlug(slug)
        try TenantSettings.validate(key: "name", value: name)
        try TenantSettings.validate(key: "currency", value: currency)
        try TenantSettings.validate(key: "locale", value: locale)
        try TenantSettings.validate(key: "timezone", value: timezone)
        do {
            let row = try connection.query(
                """
                INSERT INTO encours.tenants (slug, name, currency, locale, timezone)
                VALUES ($1, $2, $3, $4, $5) RETURNING \(Tenant.columns)
                """, [slug, name, currency, locale, timezone]
            ).rows.first
            guard let row else { throw AdminError(.database, "tenant \(slug) was not created") }
            return try Tenant(row: row)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw AdminError(.conflict, "tenant \(slug) already exists")
        }
    }

    /// All tenants by slug.
    public static func list(on connection: PostgresConnection) throws -> [Tenant] {
        try connection.query(
            """
            SELECT \(Tenant.columns) FROM encours.tenants ORDER BY slug
            """
        ).rows.map(Tenant.init(row:))
    }

    /// The tenant with this slug; throws `unknown tenant` when there is none.
    public static func find(slug: String, on connection: PostgresConnection) throws -> Tenant {
        guard let row = try connection.query(
            """
            SELECT \(Tenant.columns) FROM encours.tenants WHERE slug = $1
            """, [slug]).rows.first
        else {
            throw AdminError(.notFound, "unknown tenant \"\(slug)\"")
        }
        return try Tenant(row: row)
    }

    /// Changes one setting after validating it; returns the updated tenant.
    public static func set(slug: String, key: String, value: String, on connection: PostgresConnection) throws -> Tenant {
        try TenantSettings.validate(key: key, value: value)
        let tenant = try find(slug: slug, on: connection)
        let result: PostgresResult
        switch key {
        case "name", "currency", "locale", "timezone":
            result = try connection.query(
                """
                UPDATE encours.tenants SET
                    name = CASE WHEN $2 = 'name' THEN $3 ELSE name END,
                    currency = CASE WHEN $2 = 'currency' THEN $3 ELSE currency END,
                    locale = CASE WHEN $2 = 'locale' THEN $3 ELSE locale END,
                    timezone = CASE WHEN $2 = 'timezone' THEN $3 ELSE timezone END
                WHERE id = $1 RETURNING \(Tenant.columns)
                """, [tenant.id, key, value])
        case "max_concurrent_jobs":
            let cap = TenantSettings.isNoCap(value) ? nil : Int(value)
            result = try connection.query(
                """
                UPDATE encours.tenants SET max_concurrent_jobs = $2 WHERE id = $1 RETURNING \(Tenant.columns)
                """, [tenant.id, cap])
        case "escalation_policy":
            result = try connection.query(
                """
                UPDATE encours.tenants SET settings = settings || jsonb_build_object($2::text, $3::jsonb)
                WHERE id = $1 RETURNING \(Tenant.columns)
                """, [tenant.id, key, value])
        default:
            result = try connection.query(
                """
                UPDATE encours.tenants SET settings = settings || jsonb_build_object($2::text, $3::text)
                WHERE id = $1 RETURNING \(Tenant.columns)
                """, [tenant.id, key, TenantSettings.normalized(key: key, value: value)])
        }
        guard let row = result.rows.first else { throw AdminError(.notFound, "unknown tenant \"\(slug)\"") }
        return try Tenant(row: row)
    }
}
