import EncoursLedger

/// The language a reminder is written in (the customer's).
public enum ReminderLanguage: String, Sendable, Hashable, CaseIterable {
    case fr, en
}

/// Everything a reminder's document says: who writes to whom, the listed invoices and the totals.
///
/// Amounts are integer cents in `currency`; the templates see them already formatted for the
/// language (see `MoneyFormat`), dates likewise (see `DateFormat`).
public struct ReminderDocument: Sendable, Hashable {
    /// The creditor (the tenant) or the debtor (the customer).
    public struct Party: Sendable, Hashable {
        /// The name printed at the top of the letter and in the greeting.
        public var name: String
        /// The address the reminder is sent to or from, if any.
        public var email: String?
        /// The tenant's slug, or the customer's id (`customer_id`).
        public var identifier: String?
        /// The postal address, one line each (empty when unknown): printed under the name.
        public var addressLines: [String]

        /// A party; only the name is required.
        public init(name: String, email: String? = nil, identifier: String? = nil, addressLines: [String] = []) {
            self.name = name
            self.email = email
            self.identifier = identifier
            self.addressLines = addressLines
        }
    }

    /// One listed invoice, with its balance and penalties at the reminder's date.
    public struct Item: Sendable, Hashable {
        /// The invoice number as the tenant issued it.
        public var invoiceID: String
        public var issueDate: CalendarDate
        public var dueDate: CalendarDate
        /// The invoice's amount including tax.
        public var amountCents: Int64
        /// What remains to be paid on it.
        public var balanceCents: Int64
        /// Days since the due date (zero or negative when not yet due).
        public var daysOverdue: Int
        /// The dunning level this invoice has reached.
        public var level: Int
        /// Late-payment interest on this invoice (zero when not charged).
        public var interestCents: Int64
        /// The flat recovery indemnity on this invoice (zero when not charged).
        public var indemnityCents: Int64

        /// A listed invoice; interest and indemnity default to zero (not charged).
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

    /// The reminder's number (printed as its reference).
    public var reminderID: Int64
    /// `friendly`, `firm`, `formal_notice`, `collection_handoff`, or a tenant's own template.
    public var template: String
    public var language: ReminderLanguage
    /// The dunning level (1, 2, 3…).
    public var level: Int
    /// The date the reminder is written at (balances and penalties are as of that day).
    public var asOf: CalendarDate
    public var currency: CurrencyCode
    /// The tenant, the company sending the reminder.
    public var creditor: Party
    /// The debtor; its `identifier` is the customer id.
    public var customer: Party
    public var items: [Item]
    public var totalBalanceCents: Int64
    /// Zero when the level charges no penalties.
    public var interestCents: Int64
    /// Zero when the level charges no penalties.
    public var indemnityCents: Int64
    /// Whether this level charges the late-payment interest and the recovery indemnity.
    public var chargesPenalties: Bool
    /// Percentage points over the ECB main refinancing rate, as the tenant set them (`10`, `8.5`).
    public var penaltyMarginPoints: String
    /// The date by which a formal notice asks to be paid (the caller passes `asOf` + 8 days).
    public var paymentDeadline: CalendarDate

    /// A document with every field given.
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

    /// Balance, interest and indemnity together, in 128 bits so that the sum of three `Int64` never overflows.
    public var totalDueCents: Int128 { Int128(totalBalanceCents) + Int128(interestCents) + Int128(indemnityCents) }
}
