/// A customer's receivables figures at a date: what the credit-risk score is computed from.
///
/// Amounts are cents in the tenant's currency (credit limits are in that currency; invoices in
/// other currencies are not scored, as there is no exchange rate to bring them in). Day counts
/// of payment delays are tenths of a day, exact ratios rounded once, half away from zero.
public struct RiskFigures: Sendable, Hashable {
    /// Open balance of the customer's invoices.
    public var exposureCents: Int128 = 0
    /// Open balance past its due date.
    public var overdueCents: Int128 = 0
    /// Open balance by days overdue: current (≤ 0), 1–30, 31–60, 61–90, over 90.
    public var agingCents: [Int128] = [0, 0, 0, 0, 0]
    /// Days overdue of the oldest open overdue invoice (0 when none).
    public var oldestOverdueDays: Int = 0
    /// The customer's credit limit; nil when none is set.
    public var creditLimitCents: Int64?
    /// Days beyond terms, amount-weighted over the last 12 months of payments, in tenths of a
    /// day; nil when no payment was received in that time.
    public var daysBeyondTermsTenths: Int?
    /// Days beyond terms over the last 90 days, in tenths (nil: no payment then).
    public var recentDaysBeyondTermsTenths: Int?
    /// Days beyond terms over the 90 days before those, in tenths (nil: no payment then).
    public var priorDaysBeyondTermsTenths: Int?
    /// Disputes open at the date on the customer's invoices.
    public var openDisputes: Int = 0
    /// Promises whose date passed in the last 12 months without being kept.
    public var brokenPromises: Int = 0
    /// Invoices issued in the last 12 months.
    public var invoicesIssued: Int = 0
    /// Of those, invoices whose payment terms exceed the French legal maximum of 60 days from
    /// issue (Code de commerce L441-10).
    public var invoicesBeyondLegalTerms: Int = 0

    public init() {}

    /// The trend of days beyond terms (last 90 days minus the 90 before), in tenths; nil unless both are known.
    public var daysBeyondTermsTrendTenths: Int? {
        guard let recent = recentDaysBeyondTermsTenths, let prior = priorDaysBeyondTermsTenths else { return nil }
        return recent - prior
    }

    /// True when a credit limit is set and the exposure is above it.
    public var isOverCreditLimit: Bool {
        guard let limit = creditLimitCents else { return false }
        return exposureCents > Int128(limit)
    }

    /// Exposure ÷ credit limit in basis points (10000 = 100 %), rounded; nil without a limit or with a zero limit.
    public var creditLimitUtilizationBasisPoints: Int? {
        guard let limit = creditLimitCents, limit > 0 else { return nil }
        return RiskModel.rounded(exposureCents * 10_000, over: Int128(limit))
    }

    /// The share of the last 12 months' invoices issued beyond the legal 60 days, in percent (nil without invoices).
    public var beyondLegalTermsPercent: Int? {
        guard invoicesIssued > 0 else { return nil }
        return RiskModel.rounded(Int128(invoicesBeyondLegalTerms) * 100, over: Int128(invoicesIssued))
    }
}

/// A credit grade, A (safest) to E.
public enum RiskGrade: String, Sendable, Hashable, CaseIterable, Comparable, Codable {
    case a = "A", b = "B", c = "C", d = "D", e = "E"

    /// The lowest score of each grade: A 85, B 70, C 55, D 40, E 0.
    public var minimumScore: Int {
        switch self {
        case .a: 85
        case .b: 70
        case .c: 55
        case .d: 40
        case .e: 0
        }
    }

    /// The grade of a score 0–100.
    public init(score: Int) {
        self = RiskGrade.allCases.first { score >= $0.minimumScore } ?? .e
    }

    /// A grade is "less" than another when it is better (A < B): `worsened` reads `new > old`.
    public static func < (lhs: RiskGrade, rhs: RiskGrade) -> Bool {
        RiskGrade.allCases.firstIndex(of: lhs)! < RiskGrade.allCases.firstIndex(of: rhs)!
    }
}

/// What the tenant should do about a customer, from its grade and figures.
public enum RiskRecommendation: String, Sendable, Hashable, CaseIterable, Codable {
    case none
    case watch
    case requireDeposit = "require_deposit"
    case creditInsurance = "credit_insurance"
    case factoring
    case stopCredit = "stop_credit"
}

/// One factor of a score and the points it took off (0 or negative).
public struct RiskFactor: Sendable, Hashable {
    /// Stable snake_case name (`payment_delay`, `overdue_share`, ...).
    public var name: String
    /// Points added to 100 (never positive).
    public var contribution: Int
}

/// The outcome of scoring one customer.
public struct RiskAssessment: Sendable, Hashable {
    /// 0–100, 100 safest: 100 plus the factors' contributions, floored at 0.
    public var score: Int
    public var grade: RiskGrade
    /// Every factor, in the documented order, including those that took nothing off.
    public var factors: [RiskFactor]
    public var recommendation: RiskRecommendation
}

/// The credit-risk score, grade and recommendation: a documented, deterministic formula.
///
/// The score starts at 100 and each factor takes points off (integers, each rounded half away
/// from zero from an exact ratio), floored at 0:
///
/// | factor | points off | reading |
/// |---|---|---|
/// | `payment_delay` | 0–40 | days beyond terms on the PAYDEX scale (80 prompt, 70 ≈ 15 days late, 50 ≈ 30, 40 ≈ 60, 30 ≈ 90, 20 ≈ 120, linear between): ⅔ × (80 − PAYDEX) |
/// | `overdue_share` | 0–25 | 25 × overdue ÷ exposure |
/// | `overdue_age` | 0–15 | 15 × min(oldest days overdue, 120) ÷ 120 |
/// | `credit_limit` | 0–10 | 25 × utilisation − 20, from 80 % (0) to 120 % (10); a zero limit with exposure: 10 |
/// | `open_disputes` | 0–10 | 5 per open dispute, at most 2 |
/// | `broken_promises` | 0–20 | 10 per broken promise in the last 12 months, at most 2 |
///
/// Grades: A ≥ 85, B ≥ 70, C ≥ 55, D ≥ 40, E below. Each factor only grows with what it reads,
/// so paying later, a larger overdue, a broken promise or a new dispute never improves a score.
/// The trend of days beyond terms and the share of invoices beyond the legal 60 days are shown
/// and feed the recommendation, not the score (a trend would reward a payment made later in an
/// earlier window).
public struct RiskModel: Sendable, Hashable {
    /// Exposure from which a customer counts as large for the recommendation (default 50,000.00).
    public var highExposureCents: Int64

    /// Days beyond terms at which a solid customer counts as slow for `factoring` (15 days).
    public static let slowPayerTenths = 150
    /// A rise of days beyond terms (last 90 days against the 90 before) that puts a customer on `watch` (10 days).
    public static let worseningTrendTenths = 100

    public init(highExposureCents: Int64 = 5_000_000) {
        self.highExposureCents = highExposureCents
    }

    /// Scores one customer.
    public func assess(_ figures: RiskFigures) -> RiskAssessment {
        let factors = [
            RiskFactor(name: "payment_delay", contribution: -Self.paymentDelayPoints(tenths: figures.daysBeyondTermsTenths ?? 0)),
            RiskFactor(name: "overdue_share", contribution: -Self.overdueSharePoints(figures)),
            RiskFactor(name: "overdue_age", contribution: -Self.rounded(Int128(min(max(figures.oldestOverdueDays, 0), 120)) * 15, over: 120)),
            RiskFactor(name: "credit_limit", contribution: -Self.creditLimitPoints(figures)),
            RiskFactor(name: "open_disputes", contribution: -5 * min(max(figures.openDisputes, 0), 2)),
            RiskFactor(name: "broken_promises", contribution: -10 * min(max(figures.brokenPromises, 0), 2)),
        ]
        let score = max(0, 100 + factors.reduce(0) { $0 + $1.contribution })
        let grade = RiskGrade(score: score)
        return RiskAssessment(score: score, grade: grade, factors: factors, recommendation: recommend(figures, grade: grade))
    }

    /// The recommendation: the first rule that applies.
    ///
    /// 1. `stop_credit`: grade E, or grade D over the credit limit.
    /// 2. `require_deposit`: grade D, or grade C over the credit limit.
    /// 3. `credit_insurance`: grade C with a high exposure.
    /// 4. `factoring`: grade A or B with a high exposure that pays slowly (15 days or more beyond
    ///    terms) or was granted terms beyond the legal 60 days: sell the receivable to be paid now.
    /// 5. `watch`: grade C; over the credit limit or at 80 % of it; days beyond terms up 10 days or
    ///    more (last 90 days against the 90 before); a broken promise; an open dispute.
    /// 6. `none`.
    public func recommend(_ figures: RiskFigures, grade: RiskGrade) -> RiskRecommendation {
        let overLimit = figures.isOverCreditLimit
        let highExposure = figures.exposureCents >= Int128(highExposureCents)
        switch grade {
        case .e: return .stopCredit
        case .d: return overLimit ? .stopCredit : .requireDeposit
        case .c:
            if overLimit { return .requireDeposit }
            return highExposure ? .creditInsurance : .watch
        case .a, .b:
            let slow = (figures.daysBeyondTermsTenths ?? 0) >= Self.slowPayerTenths || figures.invoicesBeyondLegalTerms > 0
            if highExposure && slow { return .factoring }
            let nearLimit = (figures.creditLimitUtilizationBasisPoints ?? 0) >= 8_000 || overLimit
            let worsening = (figures.daysBeyondTermsTrendTenths ?? 0) >= Self.worseningTrendTenths
            if nearLimit || worsening || figures.brokenPromises > 0 || figures.openDisputes > 0 { return .watch }
            return .none
        }
    }

    /// PAYDEX deficit points (80 − PAYDEX) at whole days: 0 → 0, 15 → 10, 30 → 30, 60 → 40, 90 → 50, 120 → 60.
    static let paydexDeficit: [(days: Int, deficit: Int)] = [(0, 0), (15, 10), (30, 30), (60, 40), (90, 50), (120, 60)]

    /// ⅔ × (80 − PAYDEX) for days beyond terms given in tenths of a day, rounded: 0 to 40.
    static func paymentDelayPoints(tenths: Int) -> Int {
        guard tenths > 0 else { return 0 }
        guard tenths < 1200 else { return 40 }
        let upper = paydexDeficit.firstIndex { $0.days * 10 > tenths }!
        let (x0, y0) = paydexDeficit[upper - 1]
        let (x1, y1) = paydexDeficit[upper]
        // deficit = y0 + (y1 − y0) × (tenths − 10·x0) ÷ (10·(x1 − x0)); points = ⅔ × deficit.
        let span = Int128(10 * (x1 - x0))
        let deficitNumerator = Int128(y0) * span + Int128(y1 - y0) * Int128(tenths - 10 * x0)
        return rounded(deficitNumerator * 2, over: span * 3)
    }

    static func overdueSharePoints(_ figures: RiskFigures) -> Int {
        guard figures.exposureCents > 0, figures.overdueCents > 0 else { return 0 }
        return rounded(min(figures.overdueCents, figures.exposureCents) * 25, over: figures.exposureCents)
    }

    static func creditLimitPoints(_ figures: RiskFigures) -> Int {
        guard let limit = figures.creditLimitCents else { return 0 }
        guard limit > 0 else { return figures.exposureCents > 0 ? 10 : 0 }
        // 10 × (E/L − 0.8) ÷ 0.4 = (25·E − 20·L) ÷ L, between 0 and 10.
        let points = rounded(figures.exposureCents * 25 - Int128(limit) * 20, over: Int128(limit))
        return min(max(points, 0), 10)
    }

    /// `numerator ÷ denominator` rounded half away from zero (denominator > 0).
    public static func rounded(_ numerator: Int128, over denominator: Int128) -> Int {
        let magnitude = numerator.magnitude
        let divisor = denominator.magnitude
        var quotient = magnitude / divisor
        if magnitude % divisor >= divisor - magnitude % divisor { quotient += 1 }
        let value = Int(clamping: quotient)
        return numerator < 0 ? -value : value
    }
}
