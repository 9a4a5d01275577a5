import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// Dunning policies in PostgreSQL: `policy set` and `policy show`.
public enum DunningPolicies {
    /// Stores a policy (replacing the one of the same name) after validating it.
    ///
    /// `builtInTemplates` are the template names the binary ships; the tenant's own templates
    /// (`templates set`) count as known too.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func set(
        tenantID: Int64, json: String, builtInTemplates: [String], on connection: PostgresConnection
    ) throws -> DunningPolicy {
        try TenantScope.transaction(tenantID: tenantID, actor: "encours policy set", on: connection) { connection in
            let own = Set(try connection.query("SELECT DISTINCT name FROM encours.reminder_templates").rows.map { try $0.decode(0, as: String.self) })
            let known = Set(builtInTemplates).union(own)
            let policy: DunningPolicy
            do { policy = try DunningPolicy(json: json, isKnownTemplate: known.contains) } catch { throw LedgerStoreError("\(error)") }
            try connection.query(
                """
                INSERT INTO encours.dunning_policies (tenant_id, name, min_amount_cents, min_days_between_reminders)
                VALUES ((SELECT encours.current_tenant_id()), $1, $2, $3)
                ON CONFLICT (tenant_id, name) DO UPDATE
                SET min_amount_cents = EXCLUDED.min_amount_cents,
                    min_days_between_reminders = EXCLUDED.min_days_between_reminders, updated_at = now()
                """, [policy.name, policy.minAmountCents, policy.minDaysBetweenReminders])
            try connection.query("DELETE FROM encours.dunning_levels WHERE policy = $1", [policy.name])
            try connection.query(
                """
                INSERT INTO encours.dunning_levels (tenant_id, policy, level, days_after_due, channel, template, charge_penalties)
                SELECT (SELECT encours.current_tenant_id()), $1, l.level, l.days_after_due, l.channel, l.template, l.charge_penalties
                FROM unnest($2::integer[], $3::integer[], $4::text[], $5::text[], $6::boolean[])
                    AS l (level, days_after_due, channel, template, charge_penalties)
                """,
                [
                    policy.name, policy.levels.map(\.level), policy.levels.map(\.daysAfterDue), policy.levels.map(\.channel.rawValue),
                    policy.levels.map(\.template), policy.levels.map(\.chargesPenalties),
                ])
            try Audit.record(action: "policy_set", entity: "dunning_policy", id: policy.name, details: ["policy": policy.json], on: connection)
            return policy
        }
    }

    /// Every policy of the tenant, `standard` first, then by name.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func list(tenantID: Int64, on connection: PostgresConnection) throws -> [DunningPolicy] {
        try TenantScope.transaction(tenantID: tenantID, actor: "encours policy show", commit: false, on: connection) { connection in
            try load(on: connection)
        }
    }

    /// The policies of the current tenant scope.
    @available(*, noasync)
    static func load(on connection: PostgresConnection) throws -> [DunningPolicy] {
        let policies = try connection.query(
            """
            SELECT name, min_amount_cents, min_days_between_reminders FROM encours.dunning_policies
            ORDER BY name <> 'standard', name
            """)
        let levels = try connection.query(
            "SELECT policy, level, days_after_due, channel, template, charge_penalties FROM encours.dunning_levels ORDER BY policy, level")
        var byPolicy: [String: [DunningPolicy.Level]] = [:]
        for row in levels.rows {
            let channelName: String = try row.decode("channel")
            byPolicy[try row.decode("policy"), default: []].append(
                DunningPolicy.Level(
                    level: try row.decode("level"), daysAfterDue: try row.decode("days_after_due"),
                    channel: DunningPolicy.Channel(rawValue: channelName) ?? .letter, template: try row.decode("template"),
                    chargesPenalties: try row.decode("charge_penalties")))
        }
        return try policies.rows.map { row in
            let name: String = try row.decode("name")
            return DunningPolicy(
                name: name, minAmountCents: try row.decode("min_amount_cents"),
                minDaysBetweenReminders: try row.decode("min_days_between_reminders"), levels: byPolicy[name] ?? [])
        }
    }
}

/// Tenants' own reminder templates (`templates set|list`), by name and language.
public enum ReminderTemplateStore {
    /// A stored template.
    public struct Template: Sendable, Encodable, Hashable {
        public var name: String
        public var language: String
        public var subject: String
        public var text: String
        public var html: String
        public init(name: String, language: String, subject: String, text: String, html: String) {
            self.name = name
            self.language = language
            self.subject = subject
            self.text = text
            self.html = html
        }
    }

    /// Stores a template (replacing the one of that name and language). The caller validates its Mustache.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func set(tenantID: Int64, _ template: Template, on connection: PostgresConnection) throws {
        guard template.name.range(of: "^[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil else {
            throw LedgerStoreError("invalid template name \"\(template.name.prefix(80))\": use lowercase letters, digits, - and _ (at most 63)")
        }
        guard ["fr", "en"].contains(template.language) else {
            throw LedgerStoreError("invalid --language \"\(template.language.prefix(20))\": expected fr or en")
        }
        guard !template.subject.trimmingCharacters(in: .whitespaces).isEmpty, template.subject.count <= 500,
              !template.subject.contains(where: \.isNewline)
        else {
            throw LedgerStoreError("invalid --subject: one line of 1 to 500 characters")
        }
        guard template.text.utf8.count <= 200_000, template.html.utf8.count <= 500_000 else {
            throw LedgerStoreError("template \(template.name) is too large: at most 200,000 bytes of text and 500,000 of HTML")
        }
        try TenantScope.transaction(tenantID: tenantID, actor: "encours templates set", on: connection) { connection in
            try connection.query(
                """
                INSERT INTO encours.reminder_templates (tenant_id, name, language, subject, text_body, html_body)
                VALUES ((SELECT encours.current_tenant_id()), $1, $2, $3, $4, $5)
                ON CONFLICT (tenant_id, name, language) DO UPDATE
                SET subject = EXCLUDED.subject, text_body = EXCLUDED.text_body, html_body = EXCLUDED.html_body, updated_at = now()
                """, [template.name, template.language, template.subject, template.text, template.html])
            try Audit.record(action: "template_set", entity: "reminder_template", id: "\(template.name)/\(template.language)",
                details: ["subject": template.subject], on: connection)
        }
    }

    /// The tenant's own templates.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func list(tenantID: Int64, on connection: PostgresConnection) throws -> [Template] {
        try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            try load(on: connection)
        }
    }

    /// The templates of the current tenant scope.
    @available(*, noasync)
    public static func load(on connection: PostgresConnection) throws -> [Template] {
        try connection.query("SELECT name, language, subject, text_body, html_body FROM encours.reminder_templates ORDER BY name, language")
            .rows.map { row in
                Template(
                    name: try row.decode("name"), language: try row.decode("language"), subject: try row.decode("subject"),
                    text: try row.decode("text_body"), html: try row.decode("html_body"))
            }
    }
}

/// The ECB main refinancing rate history (`rates list|set`); shared by every tenant.
public enum ECBRates {
    /// One change of the rate, as `rates list` shows it.
    public struct Entry: Sendable, Encodable, Hashable {
        public var effectiveOn: String
        public var rate: String
        public var source: String
        enum CodingKeys: String, CodingKey {
            case rate, source
            case effectiveOn = "effective_on"
        }
    }

    /// Every change, oldest first.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func list(on connection: PostgresConnection) throws -> [Entry] {
        try connection.query("SELECT effective_on::text, rate_hundredths, source FROM encours.ecb_rates ORDER BY effective_on").rows.map { row in
            Entry(
                effectiveOn: try row.decode(0), rate: RateHistory.percentString(hundredths: try row.decode(1)), source: try row.decode(2))
        }
    }

    /// Records the rate in force from `date` (replacing a rate recorded for that same date).
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func set(date: String, rate: String, on connection: PostgresConnection) throws -> Entry {
        let day: CalendarDate
        do { day = try CalendarDate(commandLine: date, option: "DATE") } catch { throw LedgerStoreError(error.message) }
        let hundredths: Int
        do { hundredths = try RateHistory.hundredths(parsingPercent: rate) } catch {
            throw LedgerStoreError("invalid RATE \"\(rate.prefix(40))\": \(error.message) (percent, e.g. 2.15)")
        }
        try connection.query(
            """
            INSERT INTO encours.ecb_rates (effective_on, rate_hundredths, source) VALUES ($1::date, $2, 'operator')
            ON CONFLICT (effective_on) DO UPDATE SET rate_hundredths = EXCLUDED.rate_hundredths, source = 'operator', created_at = now()
            """, [day.isoString, hundredths])
        return Entry(effectiveOn: day.isoString, rate: RateHistory.percentString(hundredths: hundredths), source: "operator")
    }

    /// The history as the penalty rules read it.
    @available(*, noasync)
    static func history(on connection: PostgresConnection) throws -> RateHistory {
        RateHistory(
            try connection.query("SELECT effective_on::text, rate_hundredths FROM encours.ecb_rates").rows.map { row in
                RateHistory.Change(effectiveOn: try CalendarDate(parsing: try row.decode(0, as: String.self)), rateHundredths: try row.decode(1))
            })
    }
}
