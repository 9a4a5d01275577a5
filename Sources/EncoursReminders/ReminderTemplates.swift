import EncoursLedger
import Mustache

/// The error of the reminder documents: a code and one line naming the template and what is wrong.
public struct ReminderError: Error, CustomStringConvertible, Sendable, Hashable {
    public enum Code: String, Sendable, Hashable {
        /// No template of that name (built in or the tenant's).
        case unknownTemplate = "unknown_template"
        /// A template's Mustache does not parse.
        case invalidTemplate = "invalid_template"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// A reminder rendered: its subject line, plain-text body and HTML document.
public struct RenderedReminder: Sendable, Equatable {
    public var subject: String
    public var text: String
    public var html: String
}

/// A tenant's own template for one name and language (Mustache, see docs/reminders.md).
public struct TemplateOverride: Sendable, Hashable {
    public var name: String
    public var language: ReminderLanguage
    public var subject: String
    public var text: String
    public var html: String
    public init(name: String, language: ReminderLanguage, subject: String, text: String, html: String) {
        self.name = name
        self.language = language
        self.subject = subject
        self.text = text
        self.html = html
    }
}

/// The templates a tenant's reminders are rendered with: its own, then the built-in ones.
public struct ReminderTemplates: Sendable {
    /// The templates shipped in the binary, one per level of the standard policy.
    public static let builtInNames = ["friendly", "firm", "formal_notice", "collection_handoff"]

    /// A parsed template: subject, text (not escaped) and HTML (escaped).
    struct Compiled: Sendable {
        var subject: MustacheTemplate
        var text: MustacheTemplate
        var html: MustacheTemplate
    }

    struct Key: Hashable, Sendable {
        var name: String
        var language: ReminderLanguage
    }

    private let templates: [Key: Compiled]

    /// Parses the built-in templates and `overrides` (which win for their name and language).
    public init(overrides: [TemplateOverride] = []) throws(ReminderError) {
        var templates = Self.builtIn
        for override in overrides {
            templates[Key(name: override.name, language: override.language)] = try Self.compile(override)
        }
        self.templates = templates
    }

    /// True for a built-in name or one the tenant overrides in any language.
    public func hasTemplate(named name: String) -> Bool {
        templates.keys.contains { $0.name == name }
    }

    /// Renders `document` with its template in its language (the tenant's own first).
    public func render(_ document: ReminderDocument) throws(ReminderError) -> RenderedReminder {
        guard let compiled = templates[Key(name: document.template, language: document.language)] else {
            throw ReminderError(
                .unknownTemplate,
                "no template \"\(document.template)\" in \(document.language.rawValue): built in are \(Self.builtInNames.joined(separator: ", "))")
        }
        let context = Self.context(document)
        // A subject is one line whatever the data holds.
        let subject = compiled.subject.render(context).split(whereSeparator: \.isNewline).joined(separator: " ")
        return RenderedReminder(subject: subject, text: compiled.text.render(context), html: compiled.html.render(context))
    }

    /// Throws a one-line error when the override's Mustache does not parse.
    public static func validate(_ override: TemplateOverride) throws(ReminderError) {
        _ = try compile(override)
    }

    static func compile(_ override: TemplateOverride) throws(ReminderError) -> Compiled {
        func parse(_ text: String, part: String, escaped: Bool) throws(ReminderError) -> MustacheTemplate {
            do {
                return try MustacheTemplate(string: escaped ? text : "{{% CONTENT_TYPE: TEXT}}" + text)
            } catch let error as MustacheTemplate.ParserError {
                throw ReminderError(
                    .invalidTemplate,
                    "template \(override.name) (\(override.language.rawValue)) \(part): \(error.error) at line \(error.context.lineNumber), column \(error.context.columnNumber)")
            } catch {
                throw ReminderError(.invalidTemplate, "template \(override.name) (\(override.language.rawValue)) \(part): \(error)")
            }
        }
        return Compiled(
            subject: try parse(override.subject, part: "subject", escaped: false),
            text: try parse(override.text, part: "text", escaped: false),
            html: try parse(override.html, part: "html", escaped: true))
    }

    /// The values a template sees (every amount and date already formatted for the language).
    static func context(_ document: ReminderDocument) -> [String: Any] {
        let language = document.language
        func money(_ cents: Int64) -> String { MoneyFormat.format(cents: cents, currency: document.currency, language: language) }
        let items: [[String: Any]] = document.items.map { item in
            [
                "invoice_id": item.invoiceID,
                "issue_date": DateFormat.short(item.issueDate, language: language),
                "due_date": DateFormat.short(item.dueDate, language: language),
                "amount": money(item.amountCents),
                "balance": money(item.balanceCents),
                "days_overdue": item.daysOverdue,
                "overdue": item.daysOverdue > 0,
                "level": item.level,
                "interest": money(item.interestCents),
                "indemnity": money(item.indemnityCents),
            ]
        }
        return [
            "reminder_id": document.reminderID,
            "level": document.level,
            "template": document.template,
            "as_of": DateFormat.format(document.asOf, language: language),
            "currency": document.currency.code,
            "creditor_name": document.creditor.name,
            "creditor_email": document.creditor.email ?? "",
            "customer_name": document.customer.name,
            "customer_id": document.customer.identifier ?? "",
            "customer_email": document.customer.email ?? "",
            "items": items,
            "invoice_count": document.items.count,
            "several": document.items.count > 1,
            "total_balance": money(document.totalBalanceCents),
            "total_interest": money(document.interestCents),
            "total_indemnity": money(document.indemnityCents),
            "total_due": MoneyFormat.format(wideCents: document.totalDueCents, currency: document.currency, language: language),
            "has_penalties": document.chargesPenalties,
            "margin_points": document.penaltyMarginPoints,
            "deadline": DateFormat.format(document.paymentDeadline, language: language),
        ]
    }

    /// The built-in templates, parsed once.
    static let builtIn: [Key: Compiled] = {
        var templates: [Key: Compiled] = [:]
        for (key, source) in BuiltInTemplates.all {
            // The built-in sources are tested to parse (ReminderTemplatesTests).
            if let compiled = try? compile(TemplateOverride(name: key.name, language: key.language, subject: source.subject, text: source.text, html: source.html)) {
                templates[key] = compiled
            }
        }
        return templates
    }()
}
