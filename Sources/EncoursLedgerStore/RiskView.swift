import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// A customer's score at one recalculation, as `risk show` prints it.
public struct RiskView: Sendable, Encodable {
    public var recalcID: Int64
    public var customerID: String
    public var asOf: String
    public var currency: String
    public var score: Int
    public var grade: String
    public var exposure: String
    public var overdue: String
    /// Balances by days overdue: `current`, `1_30`, `31_60`, `61_90`, `over_90`.
    public var aging: AgingReport.Buckets
    public var oldestOverdueDays: Int
    public var creditLimit: String?
    /// Exposure ÷ credit limit (1.25 = 125 %); nil without a limit.
    public var creditLimitUtilization: Double?
    /// Days beyond terms over the last 12 months (nil: no payment then).
    public var daysBeyondTerms: Double?
    /// Days beyond terms over the last 90 days minus the 90 before (nil unless both are known).
    public var daysBeyondTermsTrend: Double?
    public var openDisputes: Int
    public var brokenPromises: Int
    public var invoicesIssued12Months: Int
    /// Of those, the share (percent) with terms beyond the legal 60 days; nil without invoices.
    public var beyondLegalTermsShare: Int?
    public var recommendation: String
    /// {factor: points added to 100}.
    public var factors: [String: Int]
    /// True when dunned under the tenant's `strict` policy after this recalculation.
    public var strictPolicy: Bool
    public var policySwitch: String?

    enum CodingKeys: String, CodingKey {
        case currency, score, grade, exposure, overdue, aging, recommendation, factors
        case recalcID = "recalc_id"
        case customerID = "customer_id"
        case asOf = "as_of"
        case oldestOverdueDays = "oldest_overdue_days"
        case creditLimit = "credit_limit"
        case creditLimitUtilization = "credit_limit_utilization"
        case daysBeyondTerms = "days_beyond_terms"
        case daysBeyondTermsTrend = "days_beyond_terms_trend"
        case openDisputes = "open_disputes"
        case brokenPromises = "broken_promises"
        case invoicesIssued12Months = "invoices_issued_12_months"
        case beyondLegalTermsShare = "beyond_legal_terms_share"
        case strictPolicy = "strict_policy"
        case policySwitch = "policy_switch"
    }

    /// Writes every field, nulls included, so scripts find each key.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(recalcID, forKey: .recalcID)
        try container.encode(customerID, forKey: .customerID)
        try container.encode(asOf, forKey: .asOf)
        try container.encode(currency, forKey: .currency)
        try container.encode(score, forKey: .score)
        try container.encode(grade, forKey: .grade)
        try container.encode(exposure, forKey: .exposure)
        try container.encode(overdue, forKey: .overdue)
        try container.encode(aging, forKey: .aging)
        try container.encode(oldestOverdueDays, forKey: .oldestOverdueDays)
        try container.encode(creditLimit, forKey: .creditLimit)
        try container.encode(creditLimitUtilization, forKey: .creditLimitUtilization)
        try container.encode(daysBeyondTerms, forKey: .daysBeyondTerms)
        try container.encode(daysBeyondTermsTrend, forKey: .daysBeyondTermsTrend)
        try container.encode(openDisputes, forKey: .openDisputes)
        try container.encode(brokenPromises, forKey: .brokenPromises)
        try container.encode(invoicesIssued12Months, forKey: .invoicesIssued12Months)
        try container.encode(beyondLegalTermsShare, forKey: .beyondLegalTermsShare)
        try container.encode(recommendation, forKey: .recommendation)
        try container.encode(factors, forKey: .factors)
        try container.encode(strictPolicy, forKey: .strictPolicy)
        try container.encode(policySwitch, forKey: .policySwitch)
    }

    /// The latest score (by date) of each customer (or of one), riskiest first; with `history`,
    /// every recalculation of the customers, by customer and newest date first. `limit` caps the rows (nil: all).
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func list(
        tenantID: Int64, customerID: String?, history: Bool, limit: Int?, on connection: PostgresConnection
    ) throws -> [RiskView] {
        if let limit, limit < 1 { throw LedgerStoreError("invalid --limit \(limit): expected a positive number") }
        return try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            if let customerID {
                let known = try connection.query(
                    "SELECT EXISTS (SELECT FROM encours.customers WHERE customer_id = $1)", [customerID]).decode(Bool.self, row: 0, column: 0)
                guard known else { throw LedgerStoreError("unknown customer \"\(customerID.prefix(64))\"") }
            }
            let selection = history
                ? """
                SELECT * FROM encours.risk_scores
                WHERE ($1::text IS NULL OR customer_id = $1)
                ORDER BY customer_id, as_of DESC, recalc_id DESC
                LIMIT $2
                """
                : """
                SELECT latest.* FROM encours.customers c
                CROSS JOIN LATERAL (
                    -- One seek of the primary key (customer, date) per customer, however long the history.
                    SELECT * FROM encours.risk_scores r
                    WHERE r.tenant_id = c.tenant_id AND r.customer_id = c.customer_id
                    ORDER BY r.as_of DESC, r.recalc_id DESC LIMIT 1
                ) latest
                WHERE ($1::text IS NULL OR c.customer_id = $1)
                ORDER BY latest.score, latest.customer_id
                LIMIT $2
                """
            let rows = try connection.query(
                """
                SELECT recalc_id, customer_id, as_of::text, currency, score, grade, exposure_cents::text, overdue_cents::text,
                       current_cents::text, days_1_30_cents::text, days_31_60_cents::text, days_61_90_cents::text, over_90_cents::text,
                       oldest_overdue_days, credit_limit_cents, utilization_bp, dbt_tenths, recent_dbt_tenths, prior_dbt_tenths,
                       open_disputes, broken_promises, invoices_issued, beyond_legal_terms, recommendation,
                       (SELECT coalesce(string_agg(f.key || ':' || f.value::text, ','), '') FROM jsonb_each(factors) AS f
                        WHERE jsonb_typeof(f.value) = 'number') AS factors,
                       strict_policy, policy_switch
                FROM (\(selection)) s
                ORDER BY \(history ? "customer_id, as_of DESC, recalc_id DESC" : "score, customer_id")
                """, [customerID, limit])
            return try rows.rows.map(view)
        }
    }

    /// Reads `name:points,name:points` (the numeric factors as the query lists them; the names are
    /// the risk model's identifiers): a JSON decoder per row was a fifth of `risk show` for
    /// 100,000 customers. An entry that is not `name:integer` is left out, as the decoder left
    /// out a whole unreadable set.
    static func factors(_ text: String) -> [String: Int] {
        var factors: [String: Int] = [:]
        for entry in text.utf8.split(separator: UInt8(ascii: ",")) {
            guard let colon = entry.lastIndex(of: UInt8(ascii: ":")), colon != entry.startIndex,
                  let points = Int(Substring(entry[entry.index(after: colon)...]))
            else { continue }
            factors[String(Substring(entry[..<colon]))] = points
        }
        return factors
    }

    static func view(_ row: PostgresRow) throws -> RiskView {
        func amount(_ column: Int) throws -> String {
            let text: String = try row.decode(column)
            guard let cents = Money.cents(numericText: text) else { throw LedgerStoreError("a risk amount could not be read: \(text.prefix(40))") }
            return Money.decimalString(cents: cents)
        }
        func tenths(_ value: Int?) -> Double? { value.map { Double($0) / 10 } }
        let recent: Int? = try row.decode(17)
        let prior: Int? = try row.decode(18)
        let issued: Int = try row.decode(21)
        let beyond: Int = try row.decode(22)
        let factors = Self.factors(try row.decode(24))
        return RiskView(
            recalcID: try row.decode(0), customerID: try row.decode(1), asOf: try row.decode(2), currency: try row.decode(3),
            score: try row.decode(4), grade: try row.decode(5), exposure: try amount(6), overdue: try amount(7),
            aging: AgingReport.Buckets(
                current: try amount(8), days1To30: try amount(9), days31To60: try amount(10), days61To90: try amount(11), over90: try amount(12)),
            oldestOverdueDays: try row.decode(13), creditLimit: (try row.decode(14) as Int64?).map { Money.decimalString(cents: $0) },
            creditLimitUtilization: (try row.decode(15) as Int?).map { Double($0) / 10_000 }, daysBeyondTerms: tenths(try row.decode(16)),
            daysBeyondTermsTrend: tenths(recent.flatMap { recent in prior.map { recent - $0 } }),
            openDisputes: try row.decode(19), brokenPromises: try row.decode(20), invoicesIssued12Months: issued,
            beyondLegalTermsShare: issued > 0 ? RiskModel.rounded(Int128(beyond) * 100, over: Int128(issued)) : nil,
            recommendation: try row.decode(23), factors: factors, strictPolicy: try row.decode(25), policySwitch: try row.decode(26))
    }
}
