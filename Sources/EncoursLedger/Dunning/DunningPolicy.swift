import Foundation

/// A tenant's dunning policy: the reminder levels, the smallest amount worth a reminder and the
/// least number of days between two reminders of one invoice.
///
/// The JSON form (the `policy set` file, and what `policy show` prints):
/// ```json
/// { "name": "standard", "min_amount": "15.00", "min_days_between_reminders": 7,
///   "levels": [ {"level": 1, "days_after_due": 1, "channel": "email", "template": "friendly"}, … ] }
/// ```
public struct DunningPolicy: Sendable, Hashable {
    /// How a reminder reaches the customer.
    public enum Channel: String, Sendable, Hashable, CaseIterable {
        /// By SMTP to the customer's email address (a customer without one gets a letter).
        case email
        /// An HTTP POST to the tenant's `webhook_url`, signed with its `webhook_secret`.
        case webhook
        /// A printable document written to the outbox folder.
        case letter
    }

    /// One step of the escalation.
    public struct Level: Sendable, Hashable {
        /// 1 for the first reminder, then 2, 3…: consecutive.
        public var level: Int
        /// Days after the due date from which an invoice may reach this level (negative: before it).
        public var daysAfterDue: Int
        public var channel: Channel
        /// The reminder template's name (a built-in one or the tenant's own).
        public var template: String
        /// Whether reminders of this level claim late-payment interest and the recovery indemnity.
        public var chargesPenalties: Bool

        public init(level: Int, daysAfterDue: Int, channel: Channel, template: String, chargesPenalties: Bool = false) {
            self.level = level
            self.daysAfterDue = daysAfterDue
            self.channel = channel
            self.template = template
            self.chargesPenalties = chargesPenalties
        }
    }

    /// A lowercase slug: letters, digits, `-` and `_`, at most 63.
    public var name: String
    /// A reminder whose listed balances total less than this is not sent (and nothing moves).
    public var minAmountCents: Int64
    /// Days an invoice stays at a level before it may move to the next.
    public var minDaysBetweenReminders: Int
    /// The levels, in order, numbered from 1 without gaps.
    public var levels: [Level]

    public init(name: String, minAmountCents: Int64, minDaysBetweenReminders: Int, levels: [Level]) {
        self.name = name
        self.minAmountCents = minAmountCents
        self.minDaysBetweenReminders = minDaysBetweenReminders
        self.levels = levels
    }

    /// The policy every tenant starts with (friendly, firm, formal notice with penalties, collection).
    public static let standard = DunningPolicy(
        name: "standard", minAmountCents: 1500, minDaysBetweenReminders: 7,
        levels: [
            Level(level: 1, daysAfterDue: 1, channel: .email, template: "friendly"),
            Level(level: 2, daysAfterDue: 15, channel: .email, template: "firm"),
            Level(level: 3, daysAfterDue: 30, channel: .email, template: "formal_notice", chargesPenalties: true),
            Level(level: 4, daysAfterDue: 45, channel: .webhook, template: "collection_handoff"),
        ])

    /// The most levels a policy may have.
    public static let maximumLevels = 20
    /// The largest `days_after_due` and `min_days_between_reminders` (ten years).
    public static let maximumDays = 3650

    /// Parses and validates a policy document; errors name the field (and level) and the value.
    ///
    /// `isKnownTemplate` says whether a template name exists (built in or the tenant's own).
    /// Amounts are decimal strings (`"15.00"`), never JSON numbers; unknown fields are refused so
    /// that a misspelt one is not silently ignored.
    public init(json text: String, isKnownTemplate: (String) -> Bool) throws(LedgerError) {
        func bad(_ why: String, _ value: String? = nil) -> LedgerError {
            LedgerError(.invalidValue, "invalid dunning policy: \(why)", value: value)
        }
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))
        } catch {
            throw bad("not a JSON object")
        }
        let known: Set<String> = ["name", "min_amount", "min_days_between_reminders", "levels"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw bad("unknown field \"\(DisplayText.quotable(unknown))\": expected name, min_amount, min_days_between_reminders, levels")
        }
        guard case .string(let name)? = object["name"] else { throw bad("\"name\" must be a string such as \"standard\"") }
        guard name.range(of: "^[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil else {
            throw bad("name must be lowercase letters, digits, - and _ (at most 63)", name)
        }
        var minimum: Int64 = 0
        switch object["min_amount"] {
        case nil, .null?: minimum = 0
        case .string(let amount)?:
            do { minimum = try Money.parseExactCents(amount) } catch { throw bad("min_amount: \(error.message)", amount) }
            guard (0...Money.maximumRowCents).contains(minimum) else {
                throw bad("min_amount must be from 0.00 to \(Money.decimalString(cents: Money.maximumRowCents))", amount)
            }
        default: throw bad("min_amount must be a decimal string such as \"15.00\" (not a JSON number)")
        }
        var gap = 0
        switch object["min_days_between_reminders"] {
        case nil, .null?: gap = 0
        case .integer(let days)? where (0...Int64(Self.maximumDays)).contains(days): gap = Int(days)
        default: throw bad("min_days_between_reminders must be a whole number of days from 0 to \(Self.maximumDays)")
        }
        guard case .array(let items)? = object["levels"], !items.isEmpty else {
            throw bad("\"levels\" must be a non-empty array of {level, days_after_due, channel, template}")
        }
        guard items.count <= Self.maximumLevels else { throw bad("at most \(Self.maximumLevels) levels") }
        var levels: [Level] = []
        for (index, item) in items.enumerated() {
            levels.append(try Self.level(item, position: index + 1, previous: levels.last, isKnownTemplate: isKnownTemplate))
        }
        self.init(name: name, minAmountCents: minimum, minDaysBetweenReminders: gap, levels: levels)
    }

    private static func level(
        _ item: JSONValue, position: Int, previous: Level?, isKnownTemplate: (String) -> Bool
    ) throws(LedgerError) -> Level {
        func bad(_ why: String, _ value: String? = nil) -> LedgerError {
            LedgerError(.invalidValue, "invalid dunning policy: level \(position): \(why)", value: value)
        }
        guard case .object(let fields) = item else { throw bad("expected an object {level, days_after_due, channel, template}") }
        let known: Set<String> = ["level", "days_after_due", "channel", "template", "charge_penalties"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw bad("unknown field \"\(DisplayText.quotable(unknown))\": expected level, days_after_due, channel, template, charge_penalties")
        }
        guard case .integer(let number)? = fields["level"], number == Int64(position) else {
            throw bad("\"level\" must be \(position): levels are numbered 1, 2, 3… in order, without gaps")
        }
        guard case .integer(let days)? = fields["days_after_due"], (-Int64(maximumDays)...Int64(maximumDays)).contains(days) else {
            throw bad("days_after_due must be a whole number of days from -\(maximumDays) to \(maximumDays)")
        }
        if let previous, Int(days) <= previous.daysAfterDue {
            throw bad("days_after_due \(days) must be greater than level \(previous.level)'s \(previous.daysAfterDue): levels increase")
        }
        guard case .string(let channelName)? = fields["channel"], let channel = Channel(rawValue: channelName) else {
            throw bad("channel must be email, webhook or letter", fields["channel"]?.shown)
        }
        guard case .string(let template)? = fields["template"] else { throw bad("template must be a string such as \"friendly\"") }
        guard template.range(of: "^[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil, isKnownTemplate(template) else {
            throw bad("unknown template (built in: friendly, firm, formal_notice, collection_handoff; or one set with `encours templates set`)", template)
        }
        var penalties = false
        switch fields["charge_penalties"] {
        case nil, .null?: penalties = false
        case .bool(let value)?: penalties = value
        default: throw bad("charge_penalties must be true or false")
        }
        return Level(level: position, daysAfterDue: Int(days), channel: channel, template: template, chargesPenalties: penalties)
    }

    /// The policy as its JSON document, keys in a fixed order (what `policy show` prints).
    public var json: String {
        func quoted(_ text: String) -> String { JSONValue.string(text).encoded }
        let levelsText = levels.map { level in
            "{\"level\": \(level.level), \"days_after_due\": \(level.daysAfterDue), \"channel\": \(quoted(level.channel.rawValue)), "
                + "\"template\": \(quoted(level.template)), \"charge_penalties\": \(level.chargesPenalties)}"
        }
        return "{\"name\": \(quoted(name)), \"min_amount\": \(quoted(Money.decimalString(cents: minAmountCents))), "
            + "\"min_days_between_reminders\": \(minDaysBetweenReminders),\n  \"levels\": [\n    "
            + levelsText.joined(separator: ",\n    ") + "\n  ]}"
    }
}

/// A JSON value as a policy document needs it: integers kept exact, numbers with a fraction apart.
enum JSONValue: Sendable, Hashable, Decodable {
    case null, bool(Bool), integer(Int64), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The value for an error message.
    var shown: String {
        switch self {
        case .string(let text): return text
        default: return encoded
        }
    }

    /// The value written as JSON.
    var encoded: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .number(let value): return String(value)
        case .string(let text):
            var result = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": result += "\\\""
                case "\\": result += "\\\\"
                case "\n": result += "\\n"
                case "\r": result += "\\r"
                case "\t": result += "\\t"
                default:
                    if scalar.value < 0x20 {
                        result += String(format: "\\u%04x", scalar.value)
                    } else {
                        result.unicodeScalars.append(scalar)
                    }
                }
            }
            return result + "\""
        case .array(let items): return "[" + items.map(\.encoded).joined(separator: ", ") + "]"
        case .object(let fields):
            return "{" + fields.keys.sorted().map { JSONValue.string($0).encoded + ": " + fields[$0]!.encoded }.joined(separator: ", ") + "}"
        }
    }
}
