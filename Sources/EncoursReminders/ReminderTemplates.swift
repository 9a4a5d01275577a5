import EncoursLedger
import Mustache

/// A reminder rendered: its subject line, plain-text body and HTML document.
public struct RenderedReminder: Sendable, Equatable {
    /// One line, plain text (no HTML escaping), for the email's subject.
    public var subject: String
    /// The plain-text body: nothing is HTML-escaped (`&` stays `&`).
    public var text: String
    /// A standalone HTML document (every value escaped), for the email's HTML part and for letters.
    public var html: String

    /// A rendered reminder from its three parts.
    public init(subject: String, text: String, html: String) {
        self.subject = subject
        self.text = text
        self.html = html
    }
}

/// A tenant's own template for one name and language (Mustache, see docs/reminders.md).
public struct TemplateOverride: Sendable, Hashable {
    /// A built-in name to replace it, or a new one (lowercase letters, digits, `-`, `_`; at most 63).
    public var name: String
    public var language: ReminderLanguage
    /// One line of Mustache, rendered without HTML escaping.
    public var subject: String
    /// Mustache for the plain-text body, rendered without HTML escaping.
    public var text: String
    /// Mustache for the HTML document, `{{name}}` HTML-escaped.
    public var html: String

    /// An override from its name, language and three Mustache sources.
    public init(name: String, language: ReminderLanguage, subject: String, text: String, html: String) {
        self.name = name
        self.language = language
        self.subject = subject
        self.text = text
        self.html = html
    }
}

/// The templates a tenant's reminders are rendered with: its own first, then the built-in ones.
public struct ReminderTemplates: Sendable {
    /// The templates shipped in the binary, one per level of the standard policy.
    public static let builtInNames = ["friendly", "firm", "formal_notice", "collection_handoff"]

    /// A parsed template: subject and text (not escaped), HTML (escaped).
    struct Compiled: Sendable {
        var subject: MustacheTemplate
        var text: MustacheTemplate
        var html: MustacheTemplate
    }

    /// A template's name and language.
    struct Key: Hashable, Sendable {
        var name: String
        var language: ReminderLanguage
    }

    private let templates: [Key: Compiled]

    /// The built-in templates and `overrides`, each override validated (the last one wins for a name and language).
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

    /// True when `name` renders in `language` (built in, or overridden for that language).
    public func hasTemplate(named name: String, language: ReminderLanguage) -> Bool {
        templates[Key(name: name, language: language)] != nil
    }

    /// Renders `document` with its template in its language: the tenant's override first, else the built-in one.
    public func render(_ document: ReminderDocument) throws(ReminderError) -> RenderedReminder {
        guard let compiled = templates[Key(name: document.template, language: document.language)] else {
            let others = templates.keys.filter { $0.name == document.template }.map(\.language.rawValue).sorted()
            throw ReminderError(
                .unknownTemplate,
                "no template \(ReminderError.quoted(document.template)) in \(document.language.rawValue)"
                    + (others.isEmpty
                        ? ": built in are \(Self.builtInNames.joined(separator: ", ")), or set one with `encours templates set`"
                        : " (only in \(others.joined(separator: ", ")))"))
        }
        let context = Self.context(document)
        return RenderedReminder(
            subject: Self.oneLine(compiled.subject.render(context)),
            text: compiled.text.render(context),
            html: compiled.html.render(context))
    }

    /// Throws a one-line error when the override's name or subject is not acceptable, its Mustache does
    /// not parse, or it names a variable or section reminders do not have (best effort), or a partial.
    public static func validate(_ override: TemplateOverride) throws(ReminderError) {
        _ = try compile(override)
    }

    /// Validates and parses an override.
    static func compile(_ override: TemplateOverride) throws(ReminderError) -> Compiled {
        try checkName(override.name)
        let place = "\(override.name) (\(override.language.rawValue))"
        guard override.subject.contains(where: { !$0.isWhitespace }), !override.subject.contains(where: \.isNewline) else {
            throw ReminderError(.invalidField, "template \(place) subject: one line, not empty")
        }
        return Compiled(
            subject: try parse(override.subject, place: "\(place) subject", escaped: false),
            text: try parse(override.text, place: "\(place) text", escaped: false),
            html: try parse(override.html, place: "\(place) html", escaped: true))
    }

    /// Refuses a name the template store would not keep: lowercase letters, digits, `-` and `_`, at most 63, starting with a letter or digit.
    static func checkName(_ name: String) throws(ReminderError) {
        func allowed(_ character: Character, first: Bool) -> Bool {
            ("a"..."z").contains(character) || ("0"..."9").contains(character) || (!first && (character == "-" || character == "_"))
        }
        guard let first = name.first, allowed(first, first: true), name.count <= 63,
              name.dropFirst().allSatisfy({ allowed($0, first: false) })
        else {
            throw ReminderError(
                .invalidField, "invalid template name \(ReminderError.quoted(name)): use lowercase letters, digits, - and _ (at most 63)")
        }
    }

    /// Parses one part; `escaped` false renders values as they are (subject, plain text).
    static func parse(_ source: String, place: String, escaped: Bool) throws(ReminderError) -> MustacheTemplate {
        // The source as written first, so that a parse error's line and column are the author's.
        do {
            _ = try MustacheTemplate(string: source)
        } catch let error as MustacheTemplate.ParserError {
            let excerpt = ReminderError.quoted(error.context.line.trimmingPrefix(while: \.isWhitespace), limit: 50)
            throw ReminderError(
                .invalidTemplate,
                "template \(place), line \(error.context.lineNumber), column \(error.context.columnNumber): "
                    + "\(explanation(error.error)) in \(excerpt)")
        } catch {
            throw ReminderError(.invalidTemplate, "template \(place): \(error)")
        }
        try TemplateVariables.check(source, place: place)
        do {
            // The TEXT content type renders {{name}} without HTML escaping.
            return try MustacheTemplate(string: escaped ? source : "{{% CONTENT_TYPE: TEXT}}" + source)
        } catch {
            throw ReminderError(.invalidTemplate, "template \(place): \(error)")
        }
    }

    /// The parser's error in words.
    static func explanation(_ error: any Error) -> String {
        switch error as? MustacheTemplate.Error {
        case .sectionCloseNameIncorrect?: return "a section is closed with another name than it was opened with"
        case .unfinishedName?: return "a tag is not closed (a {{ without its }})"
        case .expectedSectionEnd?: return "a section is opened and never closed ({{#name}} without {{/name}})"
        case .invalidSetDelimiter?: return "an invalid set-delimiter tag"
        case .transformAppliedToInheritanceSection?, .illegalTokenInsideInheritSection?, .textInsideInheritSection?:
            return "template inheritance is not supported"
        case .invalidConfigVariableSyntax?, .unrecognisedConfigVariable?: return "an invalid {{% pragma}}"
        case nil: return "\(error)"
        }
    }

    /// `text` on one line (line breaks and control characters become spaces, runs of spaces one), trimmed.
    static func oneLine(_ text: String) -> String {
        var line = ""
        var pendingSpace = false
        for character in text {
            let isSpace = character.isWhitespace
                || character.unicodeScalars.contains { $0.properties.generalCategory == .control || $0.properties.generalCategory == .lineSeparator }
            if isSpace && character != "\u{00A0}" && character != "\u{202F}" {
                pendingSpace = !line.isEmpty
                continue
            }
            if pendingSpace { line.append(" ") }
            pendingSpace = false
            line.append(character)
        }
        return line
    }

    /// The values a template sees (every amount and date already formatted for the language).
    ///
    /// An absent optional (an email, an id) is left out, so that `{{#customer_email}}…{{/customer_email}}` shows nothing.
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
                "days_overdue": String(item.daysOverdue),
                "overdue": item.daysOverdue > 0,
                "level": String(item.level),
                "interest": money(item.interestCents),
                "indemnity": money(item.indemnityCents),
            ]
        }
        var context: [String: Any] = [
            "reminder_id": String(document.reminderID),
            "template": document.template,
            "language": language.rawValue,
            "level": String(document.level),
            "as_of": DateFormat.format(document.asOf, language: language),
            "as_of_short": DateFormat.short(document.asOf, language: language),
            "currency": document.currency.code,
            "creditor_name": document.creditor.name,
            "creditor_address": document.creditor.addressLines,
            "customer_name": document.customer.name,
            "customer_address": document.customer.addressLines,
            "items": items,
            "invoice_count": String(document.items.count),
            "several": document.items.count > 1,
            "total_balance": money(document.totalBalanceCents),
            "total_interest": money(document.interestCents),
            "total_indemnity": money(document.indemnityCents),
            "total_due": MoneyFormat.format(wideCents: document.totalDueCents, currency: document.currency, language: language),
            "has_penalties": document.chargesPenalties,
            "margin_points": NumberFormat.decimal(document.penaltyMarginPoints, language: language),
            "deadline": DateFormat.format(document.paymentDeadline, language: language),
            "deadline_short": DateFormat.short(document.paymentDeadline, language: language),
        ]
        let optional = [
            "creditor_email": document.creditor.email, "creditor_id": document.creditor.identifier,
            "customer_email": document.customer.email, "customer_id": document.customer.identifier,
        ]
        for (name, value) in optional {
            if let value, !value.isEmpty { context[name] = value }
        }
        return context
    }

    /// The built-in templates, parsed once (a test checks that every one parses and renders).
    static let builtIn: [Key: Compiled] = {
        var templates: [Key: Compiled] = [:]
        for (key, source) in BuiltInTemplates.all {
            let override = TemplateOverride(name: key.name, language: key.language, subject: source.subject, text: source.text, html: source.html)
            if let compiled = try? compile(override) {
                templates[key] = compiled
            }
        }
        return templates
    }()
}
