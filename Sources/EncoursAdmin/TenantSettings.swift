import EncoursLedger
import EncoursPostgres
import EncoursSchedule
import EncoursTenancy
import Foundation

/// The settings a tenant has, their defaults and their validation.
public enum TenantSettings {
    /// Settings kept in the settings document, with the default shown when unset (nil: none).
    public static let documented: [(key: String, defaultValue: String?)] = [
        ("smtp_from", nil), ("webhook_url", nil), ("webhook_secret", nil),
        ("penalty_margin_points", "10"), ("recovery_indemnity", "40.00"), ("alert_email", nil),
        ("holidays", "fr"), ("escalation_policy", nil), ("risk_high_exposure", "50000.00"),
        ("dunning_schedule", nil), ("risk_schedule", nil), ("disputes_schedule", nil),
    ]

    /// Every key `tenant set` accepts (plus `recovery_indemnity_<currency>`).
    public static let keys: [String] = ["name", "currency", "locale", "timezone", "max_concurrent_jobs"] + documented.map(\.key)

    /// Values never printed back in clear.
    public static let secretKeys: Set<String> = ["webhook_secret"]

    /// The largest `max_concurrent_jobs` (a cap above any real fleet's concurrency).
    public static let maximumConcurrentJobs = 100_000

    /// The largest recovery indemnity a tenant may set (1,000,000.00).
    public static let maximumIndemnityCents: Int64 = 100_000_000

    static func isNoCap(_ value: String) -> Bool { ["none", "unlimited"].contains(value.lowercased()) }

    /// The cron settings.
    static let scheduleKeys: Set<String> = ["dunning_schedule", "risk_schedule", "disputes_schedule"]

    /// `none` or `off`: the value that removes a schedule.
    static func removesSchedule(_ value: String) -> Bool { ["none", "off"].contains(value.lowercased()) }

    /// The longest tenant name, in characters.
    public static let maximumNameLength = 200

    /// A setting's value as `tenant show` and `tenant set` print it: secrets as `********`, and
    /// the password and query values of `webhook_url` masked the same way (a URL such as
    /// `https://hooks:pw@example.com/in?token=t` may carry credentials of its own), so that a
    /// terminal, a log or a pasted screenshot never shows them.
    public static func displayed(_ value: String, key: String) -> String {
        if secretKeys.contains(key) { return mask }
        guard key == "webhook_url" else { return value }
        return maskedURL(value)
    }

    private static let mask = "********"

    /// `url` with its password and every query value replaced by the mask (unparsable: masked whole
    /// after the scheme and host, if they can be found).
    static func maskedURL(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return mask }
        if components.percentEncodedPassword != nil { components.percentEncodedPassword = mask }
        if let items = components.percentEncodedQueryItems, !items.isEmpty {
            components.percentEncodedQueryItems = items.map { URLQueryItem(name: $0.name, value: $0.value == nil ? nil : mask) }
        } else if components.percentEncodedQuery != nil {
            components.percentEncodedQuery = mask
        }
        if components.percentEncodedFragment != nil { components.percentEncodedFragment = mask }
        return components.string ?? mask
    }

    /// A value as an error message may show it: on one line, control characters escaped, at
    /// most 200 characters; a secret is never shown.
    static func shown(_ value: String, key: String) -> String {
        if secretKeys.contains(key) { return "(secret, not shown)" }
        var text = ""
        for scalar in value.unicodeScalars.prefix(200) {
            if scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format {
                text += String(format: "\\u{%04X}", scalar.value)
            } else {
                text.unicodeScalars.append(scalar)
            }
        }
        return "\"" + text + (value.unicodeScalars.count > 200 ? "…" : "") + "\""
    }

    static func validateSlug(_ slug: String) throws {
        let valid = slug.range(of: "^[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil
        guard valid else {
            throw AdminError(.invalidInput, "invalid tenant slug \"\(slug)\": use lowercase letters, digits, - and _ (at most 63)")
        }
    }

    /// What is stored for a value (amounts normalized to two decimals).
    static func normalized(key: String, value: String) -> String {
        if key.hasPrefix("recovery_indemnity"), let cents = try? Money.parseExactCents(value) {
            return Money.decimalString(cents: cents)
        }
        return value
    }

    /// Throws a one-line error naming the key and value when the value does not fit the key.
    public static func validate(key: String, value: String) throws {
        func bad(_ why: String) -> AdminError { AdminError(.invalidInput, "invalid value \(shown(value, key: key)) for \(key): \(why)") }
        switch key {
        case "name":
            guard !value.trimmingCharacters(in: .whitespaces).isEmpty else { throw bad("must not be empty") }
            guard value.count <= maximumNameLength else { throw bad("at most \(maximumNameLength) characters") }
            // Control characters (ESC starts terminal escapes), line separators, and the bidi
            // embedding/override/isolate controls that reorder what a terminal shows.
            let refused = value.unicodeScalars.contains { scalar in
                [.control, .lineSeparator, .paragraphSeparator].contains(scalar.properties.generalCategory)
                    || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
            }
            guard !refused else {
                throw bad("control characters (line breaks, tabs, terminal escapes) are not allowed")
            }
        case "currency":
            guard value.range(of: "^[A-Z]{3}$", options: .regularExpression) != nil else {
                throw bad("expected an ISO 4217 code such as EUR")
            }
        case "locale":
            guard value == "fr" || value == "en" else { throw bad("expected fr or en") }
        case "timezone":
            guard TimeZone(identifier: value) != nil else { throw bad("not a known time zone (e.g. Europe/Paris)") }
        case "max_concurrent_jobs":
            guard isNoCap(value) || (Int(value).map { (1...maximumConcurrentJobs).contains($0) } ?? false) else {
                throw bad("expected a whole number from 1 to \(maximumConcurrentJobs), or none")
            }
        case "smtp_from", "alert_email":
            guard value.range(of: "^[^@\\s<>]+@[^@\\s<>]+\\.[^@\\s<>]+$", options: .regularExpression) != nil else {
                throw bad("expected an email address")
            }
        case "webhook_url":
            guard let url = URL(string: value), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw bad("expected an http:// or https:// URL")
            }
        case "webhook_secret":
            guard value.count >= 16 else { throw bad("use at least 16 characters") }
        case "penalty_margin_points":
            guard value.range(of: "^[0-9]{1,2}(\\.[0-9]{1,2})?$", options: .regularExpression) != nil else {
                throw bad("expected percentage points such as 10 or 8.5")
            }
        case "holidays":
            guard ["fr", "fr-alsace-moselle", "none"].contains(value) else {
                throw bad("expected fr, fr-alsace-moselle or none")
            }
        case "escalation_policy":
            do { _ = try EscalationPolicy(json: value) } catch { throw AdminError(.invalidInput, error.message) }
        case "dunning_schedule", "risk_schedule", "disputes_schedule":
            guard !removesSchedule(value) else { return }
            do { _ = try CronSchedule(value) } catch { throw bad(error.message + " (none removes the schedule)") }
        case "risk_high_exposure":
            let cents: Int64
            do { cents = try Money.parseExactCents(value) } catch { throw bad("expected an amount such as 50000.00 (\(error.message))") }
            guard cents >= 0 else { throw bad("expected an amount of 0.00 or more") }
        case let key where key == "recovery_indemnity" || key.hasPrefix("recovery_indemnity_"):
            if key != "recovery_indemnity" {
                let currency = key.dropFirst("recovery_indemnity_".count)
                guard currency.range(of: "^[a-z]{3}$", options: .regularExpression) != nil else {
                    throw AdminError(.invalidInput, "unknown setting \(key): use recovery_indemnity_<currency>, e.g. recovery_indemnity_usd")
                }
            }
            let cents: Int64
            do { cents = try Money.parseExactCents(value) } catch { throw bad("expected an amount such as 40.00 (\(error.message))") }
            guard (0...maximumIndemnityCents).contains(cents) else {
                throw bad("expected an amount from 0.00 to \(Money.decimalString(cents: maximumIndemnityCents))")
            }
        default:
            throw AdminError(.invalidInput, "unknown setting \(shown(key, key: "")): expected one of \(keys.joined(separator: ", ")), recovery_indemnity_<currency>")
        }
    }
}

/// A 5-field cron expression (minute hour day-of-month month day-of-week).
/// Creating and configuring tenants from the CLI: every value validated, then stored.
public enum TenantAdmin {
    /// Creates a tenant after validating its slug and fields.
    public static func create(
        slug: String, name: String, currency: String = "EUR", locale: String = "fr", timezone: String = "Europe/Paris",
        on connection: PostgresConnection
    ) throws -> Tenant {
        try TenantSettings.validateSlug(slug)
        try TenantSettings.validate(key: "name", value: name)
        try TenantSettings.validate(key: "currency", value: currency)
        try TenantSettings.validate(key: "locale", value: locale)
        try TenantSettings.validate(key: "timezone", value: timezone)
        return try TenantStore.create(slug: slug, name: name, currency: currency, locale: locale, timezone: timezone, on: connection)
    }

    /// Changes one setting after validating it; returns the updated tenant.
    public static func set(slug: String, key: String, value: String, on connection: PostgresConnection) throws -> Tenant {
        try TenantSettings.validate(key: key, value: value)
        switch key {
        case "name", "currency", "locale", "timezone":
            return try TenantStore.update(slug: slug, TenantStore.Column(rawValue: key)!, to: value, on: connection)
        // One pattern: a `where` after several patterns would guard only the last of them.
        case let schedule where TenantSettings.scheduleKeys.contains(schedule) && TenantSettings.removesSchedule(value):
            return try TenantStore.removeSetting(slug: slug, key: key, on: connection)
        case "max_concurrent_jobs":
            return try TenantStore.updateMaxConcurrentJobs(slug: slug, to: TenantSettings.isNoCap(value) ? nil : Int(value), on: connection)
        default:
            return try TenantStore.updateSetting(
                slug: slug, key: key, value: TenantSettings.normalized(key: key, value: value), json: key == "escalation_policy",
                on: connection)
        }
    }
}
