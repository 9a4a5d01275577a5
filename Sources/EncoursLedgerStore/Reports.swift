import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// The aging of open invoices by days past due at a date (SPEC §6 buckets).
public struct AgingReport: Sendable, Encodable {
    /// Balances in the five buckets, as decimal strings.
    public struct Buckets: Sendable, Encodable, Equatable {
        public var current: String
        public var days1To30: String
        public var days31To60: String
        public var days61To90: String
        public var over90: String

        public init(current: String, days1To30: String, days31To60: String, days61To90: String, over90: String) {
            self.current = current
            self.days1To30 = days1To30
            self.days31To60 = days31To60
            self.days61To90 = days61To90
            self.over90 = over90
        }

        enum CodingKeys: String, CodingKey {
            case current
            case days1To30 = "1_30"
            case days31To60 = "31_60"
            case days61To90 = "61_90"
            case over90 = "over_90"
        }
    }
    /// One customer's buckets.
    public struct CustomerAging: Sendable, Encodable {
        public var customerID: String
        public var buckets: Buckets
        enum CodingKeys: String, CodingKey { case customerID = "customer_id" }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(customerID, forKey: .customerID)
            try buckets.encode(to: encoder)
        }
    }

    public var asOf: String
    public var currency: String
    public var totals: Buckets
    public var customers: [CustomerAging]

    enum CodingKeys: String, CodingKey {
        case currency, totals, customers
        case asOf = "as_of"
    }

    /// Computes the report at `asOf` (default: today in the tenant's time zone) for one currency
    /// (default: the tenant's). Balances count payments received and credit notes issued up to that date.
    public static func compute(
        tenantID: Int64, asOf: String?, currency: String?, on connection: PostgresConnection
    ) throws -> AgingReport {
        var date: CalendarDate?
        if let asOf {
            do { date = try CalendarDate(commandLine: asOf, option: "--as-of") } catch { throw LedgerStoreError(error.message) }
        }
        return try TenantScope.transaction(tenantID: tenantID, on: connection) { connection in
            try Self.tuneForTenantWideRead(on: connection)
            let tenant = try connection.query(
                "SELECT currency, encours.current_tenant_today()::text AS today FROM encours.tenants WHERE id = encours.current_tenant_id()"
            )
            let day = try date?.isoString ?? tenant.decode(String.self, row: 0, column: 1)
            let tenantCurrency = try tenant.decode(String.self, row: 0, column: 0)
            let reportCurrency = currency ?? tenantCurrency
            if let currency {
                guard (try? CurrencyCode(currency)) != nil, currency.allSatisfy(\.isUppercase) else {
                    throw LedgerStoreError("invalid --currency \"\(currency.prefix(20))\": expected an ISO 4217 code such as EUR")
                }
                let known = try connection.query(
                    "SELECT EXISTS (SELECT 1 FROM encours.invoices WHERE currency = $1)", [currency]).decode(Bool.self, row: 0, column: 0)
                guard known || currency == tenantCurrency else {
                    let used = try connection.query("SELECT string_agg(DISTINCT currency, ', ' ORDER BY currency) FROM encours.invoices").first?[0]
                    throw LedgerStoreError(
                        "the tenant has no invoices in \(currency) (its currencies: \(used.map { "\(tenantCurrency), \($0)" } ?? tenantCurrency))")
                }
            }
            // Set-based (see BalanceSQL); the per-customer sums are numeric.
            let rows = try connection.query(
                """
                WITH \(BalanceSQL.reductions(upTo: "$1")),
                open AS (
                    SELECT i.customer_id, $1::date - i.due_date AS days,
                           i.amount_cents - coalesce(p.cents, 0) - coalesce(c.cents, 0) AS balance
                    FROM encours.invoices i
                    LEFT JOIN paid p ON p.invoice_id = i.invoice_id
                    LEFT JOIN credited c ON c.invoice_id = i.invoice_id
                    WHERE i.kind = 'invoice' AND i.currency = $2 AND i.issue_date <= $1::date
                )
                SELECT customer_id,
                       coalesce(sum(balance) FILTER (WHERE days <= 0), 0)::text AS current,
                       coalesce(sum(balance) FILTER (WHERE days BETWEEN 1 AND 30), 0)::text AS d1_30,
                       coalesce(sum(balance) FILTER (WHERE days BETWEEN 31 AND 60), 0)::text AS d31_60,
                       coalesce(sum(balance) FILTER (WHERE days BETWEEN 61 AND 90), 0)::text AS d61_90,
                       coalesce(sum(balance) FILTER (WHERE days > 90), 0)::text AS over_90
                FROM open WHERE balance > 0
                GROUP BY customer_id ORDER BY customer_id
                """, [day, reportCurrency])
            var totals = [Int128](repeating: 0, count: 5)
            var customers: [CustomerAging] = []
            for row in rows.rows {
                let values = try (1...5).map { column -> Int128 in
                    let text: String = try row.decode(column)
                    guard let cents = Money.cents(numericText: text) else {
                        throw LedgerStoreError("an aging sum could not be read: \(text.prefix(40))")
                    }
                    return cents
                }
                for index in 0..<5 { totals[index] += values[index] }
                customers.append(CustomerAging(customerID: try row.decode(0), buckets: buckets(values)))
            }
            return AgingReport(asOf: day, currency: reportCurrency, totals: buckets(totals), customers: customers)
        }
    }

    /// Settings for one transaction that reads a whole tenant's ledger: no JIT (compiling the
    /// plan cost more than it saved on a million invoices) and room to hash both grouped sides in memory.
    static func tuneForTenantWideRead(on connection: PostgresConnection) throws {
        try connection.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
    }

    static func buckets(_ cents: [Int128]) -> Buckets {
        Buckets(
            current: Money.decimalString(cents: cents[0]), days1To30: Money.decimalString(cents: cents[1]),
            days31To60: Money.decimalString(cents: cents[2]), days61To90: Money.decimalString(cents: cents[3]),
            over90: Money.decimalString(cents: cents[4]))
    }
}

/// Counts and totals of a tenant's ledger, for `tenant show`.
public struct LedgerSummary: Sendable, Encodable {
    /// Open balance and overdue balance in one currency.
    public struct CurrencyTotals: Sendable, Encodable {
        public var currency: String
        public var openInvoices: Int
        public var openBalance: String
        public var overdueBalance: String
        enum CodingKeys: String, CodingKey {
            case currency
            case openInvoices = "open_invoices"
            case openBalance = "open_balance"
            case overdueBalance = "overdue_balance"
        }
    }
    public var customers: Int
    public var invoices: Int
    public var creditNotes: Int
    public var payments: Int
    public var openDisputes: Int
    public var promises: Int
    public var totals: [CurrencyTotals]
    enum CodingKeys: String, CodingKey {
        case customers, invoices, payments, promises, totals
        case creditNotes = "credit_notes"
        case openDisputes = "open_disputes"
    }

    /// Reads the summary at today's date in the tenant's time zone.
    public static func fetch(tenantID: Int64, on connection: PostgresConnection) throws -> LedgerSummary {
        try TenantScope.transaction(tenantID: tenantID, on: connection) { connection in
            try AgingReport.tuneForTenantWideRead(on: connection)
            let counts = try connection.query(
                """
                SELECT (SELECT count(*) FROM encours.customers),
                       invoices.invoices, invoices.credit_notes,
                       (SELECT count(*) FROM encours.payments),
                       (SELECT count(*) FROM encours.disputes WHERE status <> 'resolved'),
                       (SELECT count(*) FROM encours.promises)
                FROM (SELECT count(*) FILTER (WHERE kind = 'invoice') AS invoices,
                             count(*) FILTER (WHERE kind = 'credit_note') AS credit_notes
                      FROM encours.invoices) invoices
                """)
            let values = try (0..<6).map { try counts.decode(Int.self, row: 0, column: $0) }
            let totals = try connection.query(
                """
                SELECT b.currency, count(*), sum(b.balance_cents)::text,
                       coalesce(sum(b.balance_cents) FILTER (WHERE b.due_date < (SELECT encours.current_tenant_today())), 0)::text
                FROM encours.invoice_balances b
                WHERE b.balance_cents > 0 GROUP BY b.currency ORDER BY b.currency
                """
            ).rows.map { row in
                CurrencyTotals(
                    currency: try row.decode(0), openInvoices: try row.decode(1),
                    openBalance: Money.decimalString(cents: Money.cents(numericText: try row.decode(2, as: String.self)) ?? 0),
                    overdueBalance: Money.decimalString(cents: Money.cents(numericText: try row.decode(3, as: String.self)) ?? 0))
            }
            return LedgerSummary(
                customers: values[0], invoices: values[1], creditNotes: values[2], payments: values[3],
                openDisputes: values[4], promises: values[5], totals: totals)
        }
    }
}

/// The tenant's receivables metrics at a date (`report dso`): DSO by the countback method over
/// the last three months, best possible DSO, average days delinquent, and the CEI of the last month.
///
/// The months are rolling, ending at the date: (D − 1 month, D], then the month before, and so
/// on. Credit sales are the invoices issued in a month in the tenant's currency; receivables are
/// the open balances of those invoices at a date (payments and credit notes up to it counted).
public struct DSOReport: Sendable, Encodable {
    /// One month of the countback, newest first.
    public struct Month: Sendable, Encodable {
        public var start: String
        public var end: String
        public var days: Int
        public var sales: String
    }

    /// The period the CEI covers (the last month) and its four figures.
    public struct CEIPeriod: Sendable, Encodable {
        public var start: String
        public var end: String
        public var openingReceivables: String
        public var sales: String
        public var closingReceivables: String
        public var closingCurrent: String
        enum CodingKeys: String, CodingKey {
            case start, end, sales
            case openingReceivables = "opening_receivables"
            case closingReceivables = "closing_receivables"
            case closingCurrent = "closing_current"
        }
    }

    public var asOf: String
    public var currency: String
    /// Open balances at the date, and the part not yet due.
    public var receivables: String
    public var currentReceivables: String
    /// Days, one decimal; nil when undefined (nothing sold in the period).
    public var dso: Double?
    public var bestPossibleDSO: Double?
    public var averageDaysDelinquent: Double?
    /// Percent, one decimal; nil when nothing was collectable.
    public var cei: Double?
    public var months: [Month]
    public var ceiPeriod: CEIPeriod

    enum CodingKeys: String, CodingKey {
        case currency, receivables, dso, cei, months
        case asOf = "as_of"
        case currentReceivables = "current_receivables"
        case bestPossibleDSO = "best_possible_dso"
        case averageDaysDelinquent = "average_days_delinquent"
        case ceiPeriod = "cei_period"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(asOf, forKey: .asOf)
        try container.encode(currency, forKey: .currency)
        try container.encode(receivables, forKey: .receivables)
        try container.encode(currentReceivables, forKey: .currentReceivables)
        try container.encode(dso, forKey: .dso)
        try container.encode(bestPossibleDSO, forKey: .bestPossibleDSO)
        try container.encode(averageDaysDelinquent, forKey: .averageDaysDelinquent)
        try container.encode(cei, forKey: .cei)
        try container.encode(months, forKey: .months)
        try container.encode(ceiPeriod, forKey: .ceiPeriod)
    }

    /// Computes the report at `asOf` (default: today in the tenant's time zone).
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func compute(tenantID: Int64, asOf: CalendarDate?, on connection: PostgresConnection) throws -> DSOReport {
        try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            try AgingReport.tuneForTenantWideRead(on: connection)
            let tenant = try connection.query(
                """
                SELECT currency, d::text, (d - interval '1 month')::date::text, (d - interval '2 months')::date::text,
                       (d - interval '3 months')::date::text
                FROM encours.tenants, coalesce($1::date, encours.current_tenant_today()) AS d
                WHERE id = (SELECT encours.current_tenant_id())
                """, [asOf?.isoString])
            let currency = try tenant.decode(String.self, row: 0, column: 0)
            let bounds = try (1...4).map { try CalendarDate(parsing: tenant.decode(String.self, row: 0, column: $0)) }
            let sales = try connection.query(
                """
                SELECT coalesce(sum(amount_cents) FILTER (WHERE issue_date > $3::date), 0)::text,
                       coalesce(sum(amount_cents) FILTER (WHERE issue_date > $4::date AND issue_date <= $3::date), 0)::text,
                       coalesce(sum(amount_cents) FILTER (WHERE issue_date <= $4::date), 0)::text
                FROM encours.invoices
                WHERE kind = 'invoice' AND currency = $2 AND issue_date > $5::date AND issue_date <= $1::date
                """, [bounds[0].isoString, currency, bounds[1].isoString, bounds[2].isoString, bounds[3].isoString])
            let monthSales = try (0..<3).map { try wide(sales.decode(String.self, row: 0, column: $0)) }
            let closing = try receivables(at: bounds[0], currency: currency, on: connection)
            let opening = try receivables(at: bounds[1], currency: currency, on: connection)
            let months = (0..<3).map {
                ReceivablesMetrics.Month(salesCents: monthSales[$0], days: bounds[$0].days(since: bounds[$0 + 1]))
            }
            let dso = ReceivablesMetrics.countbackDSOTenths(closingReceivablesCents: closing.total, months: months)
            let best = ReceivablesMetrics.bestPossibleDSOTenths(
                currentReceivablesCents: closing.current, salesCents: monthSales.reduce(0, +), days: bounds[0].days(since: bounds[3]))
            let cei = ReceivablesMetrics.collectionEffectivenessTenths(
                openingReceivablesCents: opening.total, salesCents: monthSales[0], closingReceivablesCents: closing.total,
                closingCurrentCents: closing.current)
            func days(_ tenths: Int?) -> Double? { tenths.map { Double($0) / 10 } }
            return DSOReport(
                asOf: bounds[0].isoString, currency: currency, receivables: Money.decimalString(cents: closing.total),
                currentReceivables: Money.decimalString(cents: closing.current), dso: days(dso), bestPossibleDSO: days(best),
                averageDaysDelinquent: days(ReceivablesMetrics.averageDaysDelinquentTenths(dsoTenths: dso, bestPossibleTenths: best)),
                cei: days(cei),
                months: try (0..<3).map {
                    Month(start: try bounds[$0 + 1].adding(days: 1).isoString, end: bounds[$0].isoString, days: months[$0].days,
                          sales: Money.decimalString(cents: monthSales[$0]))
                },
                ceiPeriod: CEIPeriod(
                    start: try bounds[1].adding(days: 1).isoString, end: bounds[0].isoString,
                    openingReceivables: Money.decimalString(cents: opening.total), sales: Money.decimalString(cents: monthSales[0]),
                    closingReceivables: Money.decimalString(cents: closing.total), closingCurrent: Money.decimalString(cents: closing.current)))
        }
    }

    /// Open balances of the tenant's invoices in `currency` at `date`: in total, and not yet due.
    @available(*, noasync)
    static func receivables(at date: CalendarDate, currency: String, on connection: PostgresConnection) throws -> (total: Int128, current: Int128) {
        let result = try connection.query(
            """
            WITH \(BalanceSQL.reductions(upTo: "$1")),
            open AS (
                SELECT i.due_date, i.amount_cents - coalesce(p.cents, 0) - coalesce(c.cents, 0) AS balance
                FROM encours.invoices i
                LEFT JOIN paid p ON p.invoice_id = i.invoice_id
                LEFT JOIN credited c ON c.invoice_id = i.invoice_id
                WHERE i.kind = 'invoice' AND i.currency = $2 AND i.issue_date <= $1::date
            )
            SELECT coalesce(sum(balance), 0)::text, coalesce(sum(balance) FILTER (WHERE due_date >= $1::date), 0)::text
            FROM open WHERE balance > 0
            """, [date.isoString, currency])
        return (try wide(result.decode(String.self, row: 0, column: 0)), try wide(result.decode(String.self, row: 0, column: 1)))
    }

    static func wide(_ text: String) throws -> Int128 {
        guard let value = Money.cents(numericText: text) else { throw LedgerStoreError("a receivables sum could not be read: \(text.prefix(40))") }
        return value
    }
}

/// SQL shared by the statements that read balances at a date.
enum BalanceSQL {
    /// The CTEs `paid` and `credited`: per invoice, the payments received and the credit notes
    /// issued up to the date bound to `dateParameter` (`$1`), of the customers `customerFilter`
    /// keeps (constant SQL over `customer_id`, never input). Set-based: grouped once and hashed
    /// (a correlated sum per invoice took seconds on a million invoices). One invoice's payments
    /// and credit notes never exceed its amount (the import checks it), so they are summed in
    /// bigint, per row the cheapest.
    static func reductions(upTo dateParameter: String, customerFilter: String = "true") -> String {
        """
        paid AS (
            SELECT invoice_id, sum(amount_cents)::bigint AS cents FROM encours.payments
            WHERE invoice_id IS NOT NULL AND received_on <= \(dateParameter)::date AND \(customerFilter)
            GROUP BY invoice_id
        ),
        credited AS (
            SELECT applies_to AS invoice_id, sum(amount_cents)::bigint AS cents FROM encours.invoices
            WHERE kind = 'credit_note' AND issue_date <= \(dateParameter)::date AND \(customerFilter)
            GROUP BY applies_to
        )
        """
    }
}
