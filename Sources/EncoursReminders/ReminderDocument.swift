import EncoursLedger

/// The language a reminder is written in (the customer's).
public enum ReminderLanguage: String, Sendable, Hashable, CaseIterable {
    case fr, en
}

/// Everything a reminder's document says: who writes to whom, the listed invoices and the totals.
public struct ReminderDocument: Sendable, Hashable {
    /// The creditor (the tenant) or the debtor (the customer).
    public struct Party: Sendable, Hashable {
        public var name: String
        public var email: String?
        /// The tenant's slug, or the customer's id.
        public var identifier: String?
        public init(name: String, email: String? = nil, identifier: String? = nil) {
            self.name = name
            self.email = email
            self.identifier = identifier
        }
    }

    /// One listed invoice, with its balance and penalties at the reminder's date.
    public struct Item: Sendable, Hashable {
        public var invoiceID: String
        public var issueDate: CalendarDate
        public var dueDate: CalendarDate
        public var amountCents: Int64
        public var balanceCents: Int64
        public var daysOverdue: Int
        public var level: Int
        public var interestCents: Int64
        public var indemnityCents: Int64
        public init(
            invoiceID: String, issueDate: CalendarDate, dueDate: CalendarDate, amountCents: Int64, balanceCents: Int64,
            daysOverdue: Int, level: Int, interestCents: Int64 = 0, indemnityCents: Int64 = 0
        ) {
            self.invoiceID = invoiceID
            self.issueDate = issueDate
            self.dueDate = dueDate
            self.amountCents = amountCents
            self.balanceCents = balanceCents
            self.daysOverdue = daysOverdue
            self.level = level
            self.interestCents = interestCents
            self.indemnityCents = indemnityCents
        }
    }

    public var reminderID: Int64
    /// `friendly`, `firm`, `formal_notice`, `collection_handoff`, or a tenant's own template.
    public var template: String
    public var language: ReminderLanguage
    public var level: Int
    public var asOf: CalendarDate
    public var currency: CurrencyCode
    public var creditor: Party
    public var customer: Party
    public var items: [Item]
    public var totalBalanceCents: Int64
    /// Zero when the level charges no penalties.
    public var interestCents: Int64
    /// Zero when the level charges no penalties.
    public var indemnityCents: Int64
    public var chargesPenalties: Bool
    /// Percentage points over the ECB rate, as the tenant set them (`10`, `8.5`).
    public var penaltyMarginPoints: String
    /// The date by which a formal notice asks to be paid.
    public var paymentDeadline: CalendarDate

    public init(
        reminderID: Int64, template: String, language: ReminderLanguage, level: Int, asOf: CalendarDate, currency: CurrencyCode,
        creditor: Party, customer: Party, items: [Item], totalBalanceCents: Int64, interestCents: Int64, indemnityCents: Int64,
        chargesPenalties: Bool, penaltyMarginPoints: String, paymentDeadline: CalendarDate
    ) {
        self.reminderID = reminderID
        self.template = template
        self.language = language
        self.level = level
        self.asOf = asOf
        self.currency = currency
        self.creditor = creditor
        self.customer = customer
        self.items = items
        self.totalBalanceCents = totalBalanceCents
        self.interestCents = interestCents
        self.indemnityCents = indemnityCents
        self.chargesPenalties = chargesPenalties
        self.penaltyMarginPoints = penaltyMarginPoints
        self.paymentDeadline = paymentDeadline
    }

    /// Balance, interest and indemnity together, exact past 64 bits.
    public var totalDueCents: Int128 { Int128(totalBalanceCents) + Int128(interestCents) + Int128(indemnityCents) }
}

/// Amounts written for a reader: `1 234,56 €` in French, `€1,234.56` in English.
///
/// French groups thousands with a no-break space (U+00A0) and puts one before the symbol, so an
/// amount never breaks across lines; English groups with commas. EUR, USD and GBP get their
/// symbol in English (`€`, `$`, `£`) and EUR in French (`€`); other currencies their ISO code
/// (`1 234,56 USD`, `CHF 1,234.56`).
public enum MoneyFormat {
    /// The no-break space French uses between digit groups and before the currency.
    public static let noBreakSpace = "\u{00A0}"

    public static func format(cents: Int64, currency: CurrencyCode, language: ReminderLanguage) -> String {
        format(wideCents: Int128(cents), currency: currency, language: language)
    }

    /// A sum that may exceed 64 bits (a total with penalties).
    public static func format(wideCents cents: Int128, currency: CurrencyCode, language: ReminderLanguage) -> String {
        let magnitude = cents.magnitude
        let units = String(magnitude / 100)
        let hundredths = magnitude % 100
        let fraction = (hundredths < 10 ? "0" : "") + String(hundredths)
        let sign = cents < 0 ? "-" : ""
        switch language {
        case .fr:
            let number = grouped(units, separator: noBreakSpace) + "," + fraction
            return sign + number + noBreakSpace + (currency.code == "EUR" ? "€" : currency.code)
        case .en:
            let number = grouped(units, separator: ",") + "." + fraction
            let symbols = ["EUR": "€", "USD": "$", "GBP": "£"]
            if let symbol = symbols[currency.code] { return sign + symbol + number }
            return sign + currency.code + " " + number
        }
    }

    /// `digits` in groups of three from the right: `1234567` → `1,234,567`.
    static func grouped(_ digits: String, separator: String) -> String {
        var groups: [Substring] = []
        var end = digits.endIndex
        while end > digits.startIndex {
            let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
            groups.append(digits[start..<end])
            end = start
        }
        return groups.reversed().joined(separator: separator)
    }
}

/// Dates written for a reader.
public enum DateFormat {
    static let frenchMonths = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"]
    static let englishMonths = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]

    /// In full: `2 décembre 2026` (`1er` for the first of the month), `2 December 2026`.
    public static func format(_ date: CalendarDate, language: ReminderLanguage) -> String {
        let (year, month, day) = date.components
        switch language {
        case .fr: return "\(day == 1 ? "1er" : String(day)) \(frenchMonths[month - 1]) \(year)"
        case .en: return "\(day) \(englishMonths[month - 1]) \(year)"
        }
    }

    /// Short, for tables: `02/12/2026` in French, `2026-12-02` in English (unambiguous for every reader).
    public static func short(_ date: CalendarDate, language: ReminderLanguage) -> String {
        let (year, month, day) = date.components
        switch language {
        case .fr: return "\(day < 10 ? "0" : "")\(day)/\(month < 10 ? "0" : "")\(month)/\(year)"
        case .en: return date.isoString
        }
    }
}
