import EncoursJobs
import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue
import EncoursReminders
import EncoursTenancy
import Foundation

/// The dunning commands of the CLI: policies, templates, ECB rates, runs and reminders.
public enum DunningAdmin {
    /// `encours policy set --tenant T FILE.json`.
    public static func setPolicy(tenantSlug: String, path: String, on connection: PostgresConnection) throws -> DunningPolicy {
        let text = try readTextFile(path, limit: 1 << 20, what: "policy file")
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try DunningPolicies.set(tenantID: tenant.id, json: text, builtInTemplates: ReminderTemplates.builtInNames, on: connection)
    }

    /// `encours policy show --tenant T`.
    public static func policies(tenantSlug: String, on connection: PostgresConnection) throws -> [DunningPolicy] {
        try DunningPolicies.list(tenantID: TenantStore.find(slug: tenantSlug, on: connection).id, on: connection)
    }

    /// `encours templates set --tenant T NAME --language L --subject S --text FILE --html FILE`.
    public static func setTemplate(
        tenantSlug: String, name: String, language: String, subject: String, textPath: String, htmlPath: String,
        on connection: PostgresConnection
    ) throws -> ReminderTemplateStore.Template {
        guard let parsedLanguage = ReminderLanguage(rawValue: language) else {
            throw AdminError(.invalidInput, "invalid --language \"\(language.prefix(20))\": expected fr or en")
        }
        let template = ReminderTemplateStore.Template(
            name: name, language: language, subject: subject,
            text: try readTextFile(textPath, limit: 200_000, what: "--text file"),
            html: try readTextFile(htmlPath, limit: 500_000, what: "--html file"))
        do {
            try ReminderTemplates.validate(
                TemplateOverride(name: name, language: parsedLanguage, subject: subject, text: template.text, html: template.html))
        } catch {
            throw AdminError(.invalidInput, "\(error)")
        }
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        try ReminderTemplateStore.set(tenantID: tenant.id, template, on: connection)
        return template
    }

    /// `encours templates list --tenant T`.
    public static func templates(tenantSlug: String, on connection: PostgresConnection) throws -> [ReminderTemplateStore.Template] {
        try ReminderTemplateStore.list(tenantID: TenantStore.find(slug: tenantSlug, on: connection).id, on: connection)
    }

    /// `encours dunning run --dry-run`: what a run would record, computed and rolled back.
    public static func dryRun(tenantSlug: String, asOf: String?, on connection: PostgresConnection) throws -> DunningRun.Outcome {
        let date = try asOf.map(parseDate)
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try TenantScope.transaction(tenantID: tenant.id, actor: "encours dunning run --dry-run", commit: false, on: connection) {
            try DunningRun.perform(asOf: date, dryRun: true, jobID: nil, on: $0)
        }
    }

    /// What `dunning run` enqueued.
    public struct QueuedRun: Sendable, Encodable {
        public var jobID: Int64
        public var tenantID: Int64
        public var asOf: String
        /// True when a run of that tenant and date was already waiting (this one is it).
        public var alreadyQueued: Bool
        enum CodingKeys: String, CodingKey {
            case jobID = "job_id"
            case tenantID = "tenant_id"
            case asOf = "as_of"
            case alreadyQueued = "already_queued"
        }
    }

    /// `encours dunning run`: enqueues the tenant's `dunning.run` job at `asOf` (default: its today).
    ///
    /// A run of the same tenant and date that is still waiting or running is not enqueued twice:
    /// its job is returned instead.
    public static func enqueueRun(tenantSlug: String, asOf: String?, on connection: PostgresConnection) throws -> QueuedRun {
        let requested = try asOf.map(parseDate)
        return try connection.transaction { connection in
            let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
            let date = try requested ?? CalendarDate(parsing: connection.query(
                "SELECT (now() AT TIME ZONE timezone)::date::text FROM encours.tenants WHERE id = $1", [tenant.id]
            ).decode(String.self, row: 0, column: 0))
            let job = DunningRunHandler.job(tenantID: tenant.id, asOf: date)
            let (id, alreadyQueued) = try Admin.enqueueOnce(
                job, finishing: "a dunning run of \(tenantSlug) at \(date.isoString)", on: connection)
            return QueuedRun(jobID: id, tenantID: tenant.id, asOf: date.isoString, alreadyQueued: alreadyQueued)
        }
    }

    /// The run a `dunning.run` job recorded, for `--wait`: (run id, reminders, invoices moved); nil when it recorded none.
    public static func recordedRun(jobID: Int64, tenantID: Int64, on connection: PostgresConnection) throws -> (Int64, Int, Int)? {
        try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            guard let row = try connection.query(
                "SELECT run_id, reminders, invoices_moved FROM encours.dunning_runs WHERE job_id = $1 ORDER BY run_id DESC LIMIT 1", [jobID]
            ).first else { return nil }
            return (try row.decode(0), try row.decode(1), try row.decode(2))
        }
    }

    /// `encours reminders list --tenant T [--customer C] [--status S] [--limit N]`.
    public static func reminders(
        tenantSlug: String, customerID: String?, status: String?, limit: Int, on connection: PostgresConnection
    ) throws -> [ReminderView] {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        do {
            return try ReminderView.list(tenantID: tenant.id, customerID: customerID, status: status, limit: limit, on: connection)
        } catch let error as LedgerStoreError {
            throw AdminError(.invalidInput, error.message)
        }
    }

    /// `encours rates list`.
    public static func rates(on connection: PostgresConnection) throws -> [ECBRates.Entry] {
        try ECBRates.list(on: connection)
    }

    /// `encours rates set DATE RATE`.
    public static func setRate(date: String, rate: String, on connection: PostgresConnection) throws -> ECBRates.Entry {
        try ECBRates.set(date: date, rate: rate, on: connection)
    }

    static func parseDate(_ text: String) throws -> CalendarDate {
        do { return try CalendarDate(commandLine: text, option: "--as-of") } catch { throw AdminError(.invalidInput, error.message) }
    }

    /// Reads a whole UTF-8 text file of at most `limit` bytes, with one-line errors naming it.
    static func readTextFile(_ path: String, limit: Int, what: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw AdminError(.invalidInput, "\(path): no such \(what), or not readable")
        }
        defer { try? handle.close() }
        let data = handle.readData(ofLength: limit + 1)
        guard data.count <= limit else { throw AdminError(.invalidInput, "\(path): \(what) larger than \(limit) bytes") }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw AdminError(.invalidInput, "\(path): \(what) is not valid UTF-8 at byte \(Admin.validUTF8Prefix(data) + 1)")
        }
        return text
    }
}
