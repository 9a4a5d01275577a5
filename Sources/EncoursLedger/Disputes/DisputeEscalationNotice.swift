/// What a tier is told about one dispute an escalation moved to it (or marked breached).
public struct DisputeEscalationNotice: Sendable, Hashable, Encodable {
    /// Disputes one notification lists (an email's text; a webhook event's array); the others are counted
    /// (email) or sent in further events (webhook).
    public static let maximumPerNotification = 200

    public var disputeID: String
    public var invoiceID: String
    public var customerID: String
    public var customerName: String
    public var reason: DisputeReason
    /// The disputed amount; nil when the whole invoice is disputed (then `invoiceAmountCents`).
    public var amountCents: Int64?
    public var invoiceAmountCents: Int64
    public var currency: CurrencyCode
    public var openedOn: CalendarDate
    /// The tier the dispute is at after the escalation (1-based) and its name.
    public var tier: Int
    public var tierName: String
    /// The new deadline (for a breach: the deadline that passed).
    public var deadline: CalendarDate?
    /// True when the dispute was marked breached at the last tier (rather than moved up).
    public var breached: Bool
    /// The escalation's date in the tenant's time zone.
    public var onDate: CalendarDate
    /// The tenant's language (`fr` or `en`).
    public var language: String

    public init(
        disputeID: String, invoiceID: String, customerID: String, customerName: String, reason: DisputeReason, amountCents: Int64?,
        invoiceAmountCents: Int64, currency: CurrencyCode, openedOn: CalendarDate, tier: Int, tierName: String, deadline: CalendarDate?,
        breached: Bool, onDate: CalendarDate, language: String
    ) {
        self.disputeID = disputeID
        self.invoiceID = invoiceID
        self.customerID = customerID
        self.customerName = customerName
        self.reason = reason
        self.amountCents = amountCents
        self.invoiceAmountCents = invoiceAmountCents
        self.currency = currency
        self.openedOn = openedOn
        self.tier = tier
        self.tierName = tierName
        self.deadline = deadline
        self.breached = breached
        self.onDate = onDate
        self.language = language
    }

    enum CodingKeys: String, CodingKey {
        case event, tier, reason, currency, breached, deadline, amount
        case disputeID = "dispute_id"
        case invoiceID = "invoice_id"
        case customerID = "customer_id"
        case customerName = "customer_name"
        case tierName = "tier_name"
        case openedOn = "opened_on"
        case invoiceAmount = "invoice_amount"
    }

    /// The dispute's entry in a webhook event: `{"event": "dispute.escalated" | "dispute.breached", ...}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(breached ? "dispute.breached" : "dispute.escalated", forKey: .event)
        try container.encode(disputeID, forKey: .disputeID)
        try container.encode(invoiceID, forKey: .invoiceID)
        try container.encode(customerID, forKey: .customerID)
        try container.encode(customerName, forKey: .customerName)
        try container.encode(reason.rawValue, forKey: .reason)
        try container.encode(amountCents.map(Money.decimalString(cents:)), forKey: .amount)
        try container.encode(Money.decimalString(cents: invoiceAmountCents), forKey: .invoiceAmount)
        try container.encode(currency.code, forKey: .currency)
        try container.encode(openedOn.isoString, forKey: .openedOn)
        try container.encode(tier, forKey: .tier)
        try container.encode(tierName, forKey: .tierName)
        try container.encode(deadline?.isoString, forKey: .deadline)
        try container.encode(breached, forKey: .breached)
    }
}
