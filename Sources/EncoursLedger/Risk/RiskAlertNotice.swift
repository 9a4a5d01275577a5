/// What the tenant is told about one risk alert: the facts a notification is written from.
public struct RiskAlertNotice: Sendable, Hashable {
    /// Alerts a recalculation's email lists (in its text and its JSON); the others are counted.
    public static let maximumListedInDigest = 200

    public var alert: RiskTransition.Alert
    public var customerID: String
    public var customerName: String
    public var asOf: CalendarDate
    public var currency: CurrencyCode
    public var score: Int
    public var grade: RiskGrade
    public var exposureCents: Int128
    public var overdueCents: Int128
    public var creditLimitCents: Int64?
    public var recommendation: RiskRecommendation
    /// The language of the tenant (`fr` or `en`).
    public var language: String

    public init(
        alert: RiskTransition.Alert, customerID: String, customerName: String, asOf: CalendarDate, currency: CurrencyCode, score: Int,
        grade: RiskGrade, exposureCents: Int128, overdueCents: Int128, creditLimitCents: Int64?, recommendation: RiskRecommendation,
        language: String
    ) {
        self.alert = alert
        self.customerID = customerID
        self.customerName = customerName
        self.asOf = asOf
        self.currency = currency
        self.score = score
        self.grade = grade
        self.exposureCents = exposureCents
        self.overdueCents = overdueCents
        self.creditLimitCents = creditLimitCents
        self.recommendation = recommendation
        self.language = language
    }
}

/// The subject and plain-text body of a notification to the tenant.
public struct NotificationText: Sendable, Hashable {
    public var subject: String
    public var text: String

    public init(subject: String, text: String) {
        self.subject = subject
        self.text = text
    }
}
