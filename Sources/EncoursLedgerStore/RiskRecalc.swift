import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// A credit-risk recalculation of a tenant's customers (all, or some) at a date.
///
/// Set-based: one statement gathers every customer's figures at the date into a temporary table
/// (balances, aging, days beyond terms over three windows, disputes, broken promises, terms
/// beyond the legal 60 days, and the previous risk state); Swift scores each row with
/// ``RiskModel`` and applies ``RiskTransition``; one statement each writes the scores, the
/// changed states, the alerts and the notifications. Amounts are in the tenant's currency (a
/// credit limit is in that currency, and there is no exchange rate to bring others in). The
/// caller owns the transaction: the worker runs it inside the job's fenced transaction.
public enum RiskRecalc {
    /// What a recalculation recorded.
    public struct Outcome: Sendable {
        public var asOf: CalendarDate
        /// The recalculation recorded (nil when no customer was in scope).
        public var recalcID: Int64?
        public var customers: Int
        public var alerts: Int
        public var policySwitches: Int
        /// The notifications written for the alerts, to be delivered.
        public var notificationIDs: [Int64]
        /// How long each phase took (figures, read, score, scores, states, alerts), for logs and benchmarks.
        public var phases: [(name: String, duration: Duration)] = []
    }

    /// Customers a single job may name; more are recalculated as the whole tenant.
    public static let maximumNamedCustomers = 1_000

    /// Recalculates at `asOf` (default: today in the tenant's time zone) the customers named in
    /// `customerIDs` (nil: all of the tenant's), in the current tenant scope.
    ///
    /// Takes the tenant's risk lock, so two recalculations take turns and never raise the same
    /// alert twice. `compose` writes a notification's text for one alert or for all of a
    /// recalculation's (the caller knows the languages). An unknown customer id is an error that names it.
    @available(*, noasync, message: "blocks its thread: run it inside a tenant-scoped transaction")
    public static func perform(
        asOf requested: CalendarDate?, customerIDs: [String]?, jobID: Int64?,
        compose: ([RiskAlertNotice]) -> NotificationText, on connection: PostgresConnection
    ) throws -> Outcome {
        try connection.query("SELECT encours.lock_tenant_risk()")
        try AgingReport.tuneForTenantWideRead(on: connection)
        let tenant = try connection.query(
            """
            SELECT currency, encours.current_tenant_today()::text, timezone, locale,
                   settings ->> 'risk_high_exposure', nullif(btrim(settings ->> 'alert_email'), ''),
                   nullif(btrim(settings ->> 'webhook_url'), ''),
                   EXISTS (SELECT FROM encours.dunning_policies WHERE name = 'strict')
            FROM encours.tenants WHERE id = (SELECT encours.current_tenant_id())
            """)
        guard tenant.count == 1 else { throw LedgerStoreError("the tenant of this scope does not exist") }
        let currency = try CurrencyCode(tenant.decode(String.self, row: 0, column: 0))
        let asOf = try requested ?? CalendarDate(parsing: tenant.decode(String.self, row: 0, column: 1))
        let timezone = try tenant.decode(String.self, row: 0, column: 2)
        let language = try tenant.decode(String.self, row: 0, column: 3)
        var model = RiskModel()
        if let text = tenant.text(row: 0, column: 4) {
            do { model.highExposureCents = try Money.parseExactCents(text) } catch {
                throw LedgerStoreError("tenant setting risk_high_exposure \"\(text.prefix(40))\": \(error.message)")
            }
        }
        let alertEmail = tenant.text(row: 0, column: 5)
        let webhookURL = tenant.text(row: 0, column: 6)
        let strictPolicyExists = try tenant.decode(Bool.self, row: 0, column: 7)

        if let customerIDs {
            let unknown = try connection.query(
                """
                SELECT id FROM unnest($1::text[]) AS id
                WHERE NOT EXISTS (SELECT FROM encours.customers c WHERE c.customer_id = id) LIMIT 1
                """, [customerIDs])
            if let id = unknown.text(row: 0, column: 0) { throw LedgerStoreError("unknown customer \"\(id.prefix(64))\"") }
        }

        var timer = PhaseTimer()
        try gatherFigures(asOf: asOf, currency: currency, timezone: timezone, customerIDs: customerIDs, on: connection)
        timer.end("figures")
        let rows = try connection.query(
            """
            SELECT customer_id, name, exposure::text, overdue::text, current_cents::text, days_1_30::text, days_31_60::text,
                   days_61_90::text, over_90::text, oldest, credit_limit_cents, paid_12::text, late_12::text,
                   paid_recent::text, late_recent::text, paid_prior::text, late_prior::text, open_disputes, broken_promises,
                   invoices_issued, beyond_legal_terms, previous_grade, previous_over_limit, previous_strict, own_policy_is_strict,
                   previous_as_of::text
            FROM risk_figures ORDER BY customer_id
            """)
        timer.end("read")
        guard rows.count > 0 else {
            return Outcome(asOf: asOf, recalcID: nil, customers: 0, alerts: 0, policySwitches: 0, notificationIDs: [], phases: timer.phases)
        }

        var scored = ScoredColumns(capacity: rows.count)
        var notices: [RiskAlertNotice] = []
        for row in 0..<rows.count {
            func wide(_ column: Int) throws -> Int128 {
                guard let text = rows.text(row: row, column: column) else { return 0 }
                guard let value = Money.cents(numericText: text) else {
                    throw LedgerStoreError("a risk figure could not be read: \(text.prefix(40))")
                }
                return value
            }
            func tenths(paid: Int, late: Int) throws -> Int? {
                let paidCents = try wide(paid)
                guard paidCents > 0 else { return nil }
                return RiskModel.rounded(try wide(late) * 10, over: paidCents)
            }
            let customerID = try rows.decode(String.self, row: row, column: 0)
            var figures = RiskFigures()
            figures.exposureCents = try wide(2)
            figures.overdueCents = try wide(3)
            figures.agingCents = try (4...8).map(wide)
            figures.oldestOverdueDays = try rows.decode(Int.self, row: row, column: 9)
            figures.creditLimitCents = rows.text(row: row, column: 10).flatMap { Int64($0) }
            figures.daysBeyondTermsTenths = try tenths(paid: 11, late: 12)
            figures.recentDaysBeyondTermsTenths = try tenths(paid: 13, late: 14)
            figures.priorDaysBeyondTermsTenths = try tenths(paid: 15, late: 16)
            figures.openDisputes = try rows.decode(Int.self, row: row, column: 17)
            figures.brokenPromises = try rows.decode(Int.self, row: row, column: 18)
            figures.invoicesIssued = try rows.decode(Int.self, row: row, column: 19)
            figures.invoicesBeyondLegalTerms = try rows.decode(Int.self, row: row, column: 20)
            let assessment = model.assess(figures)
            var previous: RiskTransition.State?
            if let grade = rows.text(row: row, column: 21).flatMap(RiskGrade.init(rawValue:)) {
                previous = RiskTransition.State(
                    grade: grade, overCreditLimit: try rows.decode(Bool.self, row: row, column: 22),
                    strictPolicy: try rows.decode(Bool.self, row: row, column: 23))
            }
            // A date before the customer's latest recalculation writes history only.
            let previousAsOf = rows.text(row: row, column: 25)
            let backdated = previousAsOf.flatMap { try? CalendarDate(parsing: $0) }.map { $0 > asOf } ?? false
            let outcome = RiskTransition.apply(
                previous: previous, grade: assessment.grade, overCreditLimit: figures.isOverCreditLimit,
                strictPolicyExists: strictPolicyExists, ownPolicyIsStrict: try rows.decode(Bool.self, row: row, column: 24),
                backdated: backdated)
            scored.append(
                customerID: customerID, figures: figures, assessment: assessment, outcome: outcome,
                changed: !backdated && (outcome.state != previous || previousAsOf != asOf.isoString))
            for alert in outcome.alerts {
                notices.append(RiskAlertNotice(
                    alert: alert, customerID: customerID, customerName: try rows.decode(String.self, row: row, column: 1), asOf: asOf,
                    currency: currency, score: assessment.score, grade: assessment.grade, exposureCents: figures.exposureCents,
                    overdueCents: figures.overdueCents, creditLimitCents: figures.creditLimitCents,
                    recommendation: assessment.recommendation, language: language))
            }
        }
        timer.end("score")

        let recalcID = try connection.query(
            """
            INSERT INTO encours.risk_recalcs (tenant_id, as_of, customer_scope, job_id, customers, alerts, policy_switches)
            VALUES ((SELECT encours.current_tenant_id()), $1::date, $2::text[], $3, $4, $5, $6)
            RETURNING recalc_id
            """, [asOf.isoString, customerIDs, jobID, rows.count, notices.count, scored.policySwitchCount]
        ).decode(Int64.self, row: 0, column: 0)
        try scored.writeScores(recalcID: recalcID, asOf: asOf, currency: currency, on: connection)
        timer.end("scores")
        try scored.writeStates(recalcID: recalcID, asOf: asOf, on: connection)
        timer.end("states")
        let notificationIDs = try recordAlerts(
            notices, recalcID: recalcID, alertEmail: alertEmail, webhookURL: webhookURL, compose: compose, on: connection)
        timer.end("alerts")
        try Audit.record(
            action: "risk_recalc", entity: "risk_recalc", id: String(recalcID),
            details: [
                "as_of": asOf.isoString, "customers": String(rows.count), "alerts": String(notices.count),
                "policy_switches": String(scored.policySwitchCount), "job_id": jobID.map(String.init) ?? "",
            ], on: connection)
        return Outcome(
            asOf: asOf, recalcID: recalcID, customers: rows.count, alerts: notices.count, policySwitches: scored.policySwitchCount,
            notificationIDs: notificationIDs, phases: timer.phases)
    }

    /// Builds `risk_figures`: one row per customer in scope with its figures at `asOf`.
    @available(*, noasync)
    static func gatherFigures(
        asOf: CalendarDate, currency: CurrencyCode, timezone: String, customerIDs: [String]?, on connection: PostgresConnection
    ) throws {
        // $1 the date, $2 the tenant's currency, $3 the customers (NULL: all), $4 the tenant's time zone.
        // Windows: the 12 months up to the date (D − 12 months, D]; the last 90 days (D − 90, D]
        // and the 90 before (D − 180, D − 90]. Payment delays are summed in numeric (amount × days
        // can pass 2^63 on hostile data); balances per invoice fit bigint (the import checks them).
        try connection.query(
            """
            CREATE TEMPORARY TABLE risk_figures ON COMMIT DROP AS
            WITH bounds AS (
                SELECT ($1::date - interval '12 months')::date AS year_start
            ),
            scope AS (
                SELECT c.customer_id, c.name, c.credit_limit_cents, coalesce(c.policy = 'strict', false) AS own_policy_is_strict
                FROM encours.customers c
                WHERE $3::text[] IS NULL OR c.customer_id = ANY ($3::text[])
            ),
            \(BalanceSQL.reductions(upTo: "$1", customerFilter: "($3::text[] IS NULL OR customer_id = ANY ($3::text[]))")),
            invoice_rows AS (
                SELECT i.customer_id, i.currency, i.issue_date, i.due_date, $1::date - i.due_date AS days,
                       i.amount_cents - coalesce(p.cents, 0) - coalesce(c.cents, 0) AS balance
                FROM encours.invoices i
                LEFT JOIN paid p ON p.invoice_id = i.invoice_id
                LEFT JOIN credited c ON c.invoice_id = i.invoice_id
                WHERE i.kind = 'invoice' AND i.issue_date <= $1::date AND ($3::text[] IS NULL OR i.customer_id = ANY ($3::text[]))
            ),
            invoice_figures AS (
                SELECT r.customer_id,
                       coalesce(sum(balance) FILTER (WHERE open), 0) AS exposure,
                       coalesce(sum(balance) FILTER (WHERE open AND days > 0), 0) AS overdue,
                       coalesce(sum(balance) FILTER (WHERE open AND days <= 0), 0) AS current_cents,
                       coalesce(sum(balance) FILTER (WHERE open AND days BETWEEN 1 AND 30), 0) AS days_1_30,
                       coalesce(sum(balance) FILTER (WHERE open AND days BETWEEN 31 AND 60), 0) AS days_31_60,
                       coalesce(sum(balance) FILTER (WHERE open AND days BETWEEN 61 AND 90), 0) AS days_61_90,
                       coalesce(sum(balance) FILTER (WHERE open AND days > 90), 0) AS over_90,
                       coalesce(max(days) FILTER (WHERE open AND days > 0), 0) AS oldest,
                       count(*) FILTER (WHERE issue_date > b.year_start) AS invoices_issued,
                       count(*) FILTER (WHERE issue_date > b.year_start AND due_date - issue_date > 60) AS beyond_legal_terms
                FROM (SELECT *, currency = $2 AND balance > 0 AS open FROM invoice_rows) r, bounds b
                GROUP BY r.customer_id
            ),
            delays AS (
                SELECT p.customer_id,
                       sum(p.amount_cents) FILTER (WHERE p.received_on > b.year_start) AS paid_12,
                       sum(p.amount_cents * greatest(p.received_on - i.due_date, 0)::numeric) FILTER (WHERE p.received_on > b.year_start) AS late_12,
                       sum(p.amount_cents) FILTER (WHERE p.received_on > $1::date - 90) AS paid_recent,
                       sum(p.amount_cents * greatest(p.received_on - i.due_date, 0)::numeric) FILTER (WHERE p.received_on > $1::date - 90) AS late_recent,
                       sum(p.amount_cents) FILTER (WHERE p.received_on <= $1::date - 90 AND p.received_on > $1::date - 180) AS paid_prior,
                       sum(p.amount_cents * greatest(p.received_on - i.due_date, 0)::numeric)
                           FILTER (WHERE p.received_on <= $1::date - 90 AND p.received_on > $1::date - 180) AS late_prior
                FROM encours.payments p
                JOIN encours.invoices i ON i.tenant_id = p.tenant_id AND i.invoice_id = p.invoice_id
                CROSS JOIN bounds b
                WHERE p.invoice_id IS NOT NULL AND p.currency = $2 AND p.received_on <= $1::date
                  AND p.received_on > least(b.year_start, $1::date - 180)
                  AND ($3::text[] IS NULL OR p.customer_id = ANY ($3::text[]))
                GROUP BY p.customer_id
            ),
            disputes_open AS (
                -- Open at the date: opened by then, and not resolved by then.
                SELECT i.customer_id, count(*) AS open_disputes
                FROM encours.disputes d
                JOIN encours.invoices i ON i.tenant_id = d.tenant_id AND i.invoice_id = d.invoice_id
                WHERE d.opened_on <= $1::date AND (d.status <> 'resolved' OR d.resolved_on > $1::date)
                  AND ($3::text[] IS NULL OR i.customer_id = ANY ($3::text[]))
                GROUP BY i.customer_id
            ),
            promises_broken AS (
                -- A promise whose date passed in the 12 months before the date is broken unless the
                -- payments received from the day it was made (or its date, when recorded later)
                -- through its date reach its amount, or the invoice it names was settled by then.
                SELECT pr.customer_id, count(*) AS broken_promises
                FROM encours.promises pr, bounds b
                WHERE pr.promised_for < $1::date AND pr.promised_for > b.year_start
                  AND ($3::text[] IS NULL OR pr.customer_id = ANY ($3::text[]))
                  AND coalesce((
                      SELECT sum(p.amount_cents) FROM encours.payments p
                      WHERE p.tenant_id = pr.tenant_id AND p.customer_id = pr.customer_id AND p.currency = pr.currency
                        AND (pr.invoice_id IS NULL OR p.invoice_id = pr.invoice_id)
                        AND p.received_on BETWEEN least((pr.created_at AT TIME ZONE $4)::date, pr.promised_for) AND pr.promised_for
                  ), 0) < pr.amount_cents
                  AND NOT coalesce((
                      SELECT i.amount_cents
                             - coalesce((SELECT sum(p.amount_cents) FROM encours.payments p
                                         WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.invoice_id AND p.received_on <= pr.promised_for), 0)
                             - coalesce((SELECT sum(n.amount_cents) FROM encours.invoices n
                                         WHERE n.tenant_id = i.tenant_id AND n.applies_to = i.invoice_id AND n.issue_date <= pr.promised_for), 0)
                             <= 0
                      FROM encours.invoices i WHERE i.tenant_id = pr.tenant_id AND i.invoice_id = pr.invoice_id
                  ), false)
                GROUP BY pr.customer_id
            )
            SELECT s.customer_id, s.name, s.credit_limit_cents, s.own_policy_is_strict,
                   coalesce(f.exposure, 0) AS exposure, coalesce(f.overdue, 0) AS overdue,
                   coalesce(f.current_cents, 0) AS current_cents, coalesce(f.days_1_30, 0) AS days_1_30,
                   coalesce(f.days_31_60, 0) AS days_31_60, coalesce(f.days_61_90, 0) AS days_61_90,
                   coalesce(f.over_90, 0) AS over_90, coalesce(f.oldest, 0) AS oldest,
                   coalesce(f.invoices_issued, 0) AS invoices_issued, coalesce(f.beyond_legal_terms, 0) AS beyond_legal_terms,
                   d.paid_12, d.late_12, d.paid_recent, d.late_recent, d.paid_prior, d.late_prior,
                   coalesce(o.open_disputes, 0) AS open_disputes, coalesce(pb.broken_promises, 0) AS broken_promises,
                   cr.grade AS previous_grade, cr.over_credit_limit AS previous_over_limit, cr.strict_policy AS previous_strict,
                   cr.as_of AS previous_as_of
            FROM scope s
            LEFT JOIN invoice_figures f ON f.customer_id = s.customer_id
            LEFT JOIN delays d ON d.customer_id = s.customer_id
            LEFT JOIN disputes_open o ON o.customer_id = s.customer_id
            LEFT JOIN promises_broken pb ON pb.customer_id = s.customer_id
            LEFT JOIN encours.customer_risk cr ON cr.tenant_id = (SELECT encours.current_tenant_id()) AND cr.customer_id = s.customer_id
            """, [asOf.isoString, currency.code, customerIDs, timezone])
    }

    /// The columns of the scores, one element per customer, for the set-based writes.
    struct ScoredColumns {
        var customerIDs: [String] = []
        var scores: [Int] = []
        var grades: [String] = []
        var recommendations: [String] = []
        var factors: [String] = []
        var utilization: [Int?] = []
        var dbt: [Int?] = []
        var recent: [Int?] = []
        var prior: [Int?] = []
        var strict: [Bool] = []
        var switches: [String?] = []
        /// The customers whose state changed, is new or moved to this later date, and that state.
        var changedIDs: [String] = []
        var changedGrades: [String] = []
        var changedOverLimit: [Bool] = []
        var changedStrict: [Bool] = []
        /// The customers whose policy switched, and the switch.
        var switchedIDs: [String] = []
        var switchNames: [String] = []
        var policySwitchCount: Int { switchedIDs.count }

        init(capacity: Int) {
            customerIDs.reserveCapacity(capacity)
            scores.reserveCapacity(capacity)
            grades.reserveCapacity(capacity)
            recommendations.reserveCapacity(capacity)
            factors.reserveCapacity(capacity)
        }

        mutating func append(
            customerID: String, figures: RiskFigures, assessment: RiskAssessment, outcome: RiskTransition.Outcome, changed: Bool
        ) {
            customerIDs.append(customerID)
            scores.append(assessment.score)
            grades.append(assessment.grade.rawValue)
            recommendations.append(assessment.recommendation.rawValue)
            factors.append("{" + assessment.factors.map { "\"\($0.name)\": \($0.contribution)" }.joined(separator: ", ") + "}")
            utilization.append(figures.creditLimitUtilizationBasisPoints)
            dbt.append(figures.daysBeyondTermsTenths)
            recent.append(figures.recentDaysBeyondTermsTenths)
            prior.append(figures.priorDaysBeyondTermsTenths)
            strict.append(outcome.state.strictPolicy)
            switches.append(outcome.policySwitch?.rawValue)
            if let policySwitch = outcome.policySwitch {
                switchedIDs.append(customerID)
                switchNames.append(policySwitch.rawValue)
            }
            if changed {
                changedIDs.append(customerID)
                changedGrades.append(outcome.state.grade.rawValue)
                changedOverLimit.append(outcome.state.overCreditLimit)
                changedStrict.append(outcome.state.strictPolicy)
            }
        }

        /// Writes one history row per customer.
        @available(*, noasync)
        func writeScores(recalcID: Int64, asOf: CalendarDate, currency: CurrencyCode, on connection: PostgresConnection) throws {
            try connection.query(
                """
                INSERT INTO encours.risk_scores (
                    tenant_id, recalc_id, customer_id, as_of, currency, exposure_cents, overdue_cents, current_cents,
                    days_1_30_cents, days_31_60_cents, days_61_90_cents, over_90_cents, oldest_overdue_days, credit_limit_cents,
                    utilization_bp, dbt_tenths, recent_dbt_tenths, prior_dbt_tenths, open_disputes, broken_promises,
                    invoices_issued, beyond_legal_terms, score, grade, recommendation, factors, strict_policy, policy_switch)
                SELECT (SELECT encours.current_tenant_id()), $1, f.customer_id, $2::date, $3, f.exposure, f.overdue, f.current_cents,
                       f.days_1_30, f.days_31_60, f.days_61_90, f.over_90, f.oldest, f.credit_limit_cents,
                       u.utilization, u.dbt, u.recent, u.prior, f.open_disputes, f.broken_promises,
                       f.invoices_issued, f.beyond_legal_terms, u.score, u.grade, u.recommendation, u.factors, u.strict, u.switch
                FROM unnest($4::text[], $5::int[], $6::text[], $7::text[], $8::jsonb[], $9::bigint[], $10::int[], $11::int[], $12::int[],
                            $13::bool[], $14::text[])
                     AS u (customer_id, score, grade, recommendation, factors, utilization, dbt, recent, prior, strict, switch)
                JOIN risk_figures f ON f.customer_id = u.customer_id
                """,
                [recalcID, asOf.isoString, currency.code, customerIDs, scores, grades, recommendations, factors, utilization, dbt,
                 recent, prior, strict, switches])
        }

        /// Writes the states that changed, are new or moved to a later date, and each policy switch to the audit trail.
        @available(*, noasync)
        func writeStates(recalcID: Int64, asOf: CalendarDate, on connection: PostgresConnection) throws {
            guard !changedIDs.isEmpty else { return }
            try connection.query(
                """
                INSERT INTO encours.customer_risk (tenant_id, customer_id, as_of, grade, over_credit_limit, strict_policy)
                SELECT (SELECT encours.current_tenant_id()), u.customer_id, $5::date, u.grade, u.over_limit, u.strict
                FROM unnest($1::text[], $2::text[], $3::bool[], $4::bool[]) AS u (customer_id, grade, over_limit, strict)
                ON CONFLICT (tenant_id, customer_id) DO UPDATE
                SET as_of = EXCLUDED.as_of, grade = EXCLUDED.grade, over_credit_limit = EXCLUDED.over_credit_limit,
                    strict_policy = EXCLUDED.strict_policy
                """, [changedIDs, changedGrades, changedOverLimit, changedStrict, asOf.isoString])
            // Each policy switch is in the audit trail as well as in the customer's score history.
            guard !switchedIDs.isEmpty else { return }
            try connection.query(
                """
                SELECT encours.audit('risk_policy_switch', 'customer', u.customer_id,
                                     jsonb_build_object('switch', u.switch, 'recalc_id', $1::bigint, 'as_of', $2::text))
                FROM unnest($3::text[], $4::text[]) AS u (customer_id, switch)
                """, [recalcID, asOf.isoString, switchedIDs, switchNames])
        }
    }

    /// Writes the alerts and their notifications: one email to `alert_email` listing the
    /// recalculation's alerts, and to `webhook_url` one signed event per
    /// ``NotificationStore/alertsPerEvent`` alerts (each when set). The webhooks' JSON is built
    /// when they are sent (see ``NotificationStore/pending(notificationID:on:)``).
    @available(*, noasync)
    static func recordAlerts(
        _ notices: [RiskAlertNotice], recalcID: Int64, alertEmail: String?, webhookURL: String?,
        compose: ([RiskAlertNotice]) -> NotificationText, on connection: PostgresConnection
    ) throws -> [Int64] {
        guard !notices.isEmpty else { return [] }
        try connection.query(
            """
            INSERT INTO encours.risk_alerts (tenant_id, recalc_id, customer_id, kind, from_grade, to_grade)
            SELECT (SELECT encours.current_tenant_id()), $1, u.customer_id, u.kind, u.from_grade, u.to_grade
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u (customer_id, kind, from_grade, to_grade, position)
            ORDER BY u.position
            """,
            [recalcID, notices.map(\.customerID), notices.map(\.alert.kind), notices.map(\.fromGrade), notices.map(\.grade.rawValue)])
        let parts = (notices.count + NotificationStore.alertsPerEvent - 1) / NotificationStore.alertsPerEvent
        let text = compose(notices)
        var channels: [String] = []
        var recipients: [String] = []
        var partNumbers: [Int] = []
        if let alertEmail {
            channels.append("email")
            recipients.append(alertEmail)
            partNumbers.append(0)
        }
        if let webhookURL {
            for part in 0..<parts {
                channels.append("webhook")
                recipients.append(webhookURL)
                partNumbers.append(part)
            }
        }
        guard !channels.isEmpty else { return [] }
        let notifications = try connection.query(
            """
            INSERT INTO encours.notifications (tenant_id, source, source_id, part, channel, recipient, subject, text_body)
            SELECT (SELECT encours.current_tenant_id()), 'risk_recalc', $1, u.part, u.channel, u.recipient,
                   CASE WHEN u.channel = 'webhook' AND $6 > 1 THEN $4 || ' (' || (u.part + 1) || '/' || $6 || ')' ELSE $4 END, $5
            FROM unnest($2::text[], $3::text[], $7::int[]) WITH ORDINALITY AS u (channel, recipient, part, position)
            ORDER BY u.position
            RETURNING notification_id
            """, [recalcID, channels, recipients, text.subject, text.text, parts, partNumbers])
        return try (0..<notifications.count).map { try notifications.decode(Int64.self, row: $0, column: 0) }
    }
}

extension RiskAlertNotice {
    var fromGrade: String? {
        if case .gradeWorsened(let from, _) = alert { return from.rawValue }
        return nil
    }
}
