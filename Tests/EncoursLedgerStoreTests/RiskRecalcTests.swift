import EncoursLedger
@testable import EncoursLedgerStore
import EncoursPostgres
import EncoursTenancy
import EncoursTestSupport
import Foundation
import Testing

/// A prompt payer (P1) and a late one over its limit (L1), worked by hand at 2026-06-30.
enum RiskLedger {
    static let customers = """
        customer_id,name,email,language,credit_limit
        P1,Ponctuel SA,,fr,10000.00
        L1,Retard SARL,,fr,1000.00
        N1,Nouveau client,,fr,

        """
    static let invoices = """
        invoice_id,customer_id,issue_date,due_date,amount
        P-1,P1,2026-01-10,2026-02-09,1000.00
        P-2,P1,2026-05-01,2026-05-31,2000.00
        P-3,P1,2026-06-15,2026-07-15,500.00
        L-1,L1,2026-01-01,2026-01-31,1000.00
        L-2,L1,2026-04-01,2026-05-01,600.00
        L-3,L1,2026-05-15,2026-08-13,700.00

        """
    static let payments = """
        payment_id,customer_id,invoice_id,received_on,amount
        PP-1,P1,P-1,2026-02-09,1000.00
        PP-2,P1,P-2,2026-05-30,2000.00
        LP-1,L1,L-1,2026-03-02,1000.00
        LP-2,L1,L-2,2026-06-10,200.00

        """
    static let disputes = """
        dispute_id,invoice_id,reason,opened_on
        D-1,L-3,quality,2026-06-20

        """
    static let strictPolicy = #"{"name": "strict", "min_amount": "0", "levels": [{"level": 1, "days_after_due": 1, "channel": "letter", "template": "firm"}]}"#

    static func load(_ database: TestDatabase, _ slug: String = "acme") async throws -> DunningFixture {
        let fixture = try await DunningFixture.make(database, slug, customers: customers, invoices: invoices, payments: payments)
        try await fixture.load("disputes", disputes)
        let tenantID = fixture.tenantID
        try await database.withConnection { connection in
            // L1 promised its L-2 balance for 15 June and paid nothing that day: broken.
            _ = try Promises.add(
                tenantID: tenantID, customerID: "L1", amount: "400.00", date: "2026-06-15", invoiceID: "L-2", tenantCurrency: "EUR", on: connection)
            // P1 promised P-2 for 31 May and had settled it the day before: kept.
            _ = try Promises.add(
                tenantID: tenantID, customerID: "P1", amount: "2000.00", date: "2026-05-31", invoiceID: "P-2", tenantCurrency: "EUR", on: connection)
        }
        return fixture
    }
}

extension DunningFixture {
    /// Recalculates at `date` (all customers, or `customers`).
    @discardableResult
    func recalc(_ date: String, customers: [String]? = nil) async throws -> RiskRecalc.Outcome {
        let tenantID = self.tenantID
        let asOf = try CalendarDate(parsing: date)
        return try await database.withConnection { connection in
            try TenantScope.transaction(tenantID: tenantID, actor: "test", on: connection) { connection in
                try RiskRecalc.perform(
                    asOf: asOf, customerIDs: customers, jobID: nil,
                    compose: { notices in
                        NotificationText(
                            subject: notices.map { "\($0.alert.kind) \($0.customerID)" }.joined(separator: ", "),
                            text: notices.map { "grade \($0.grade.rawValue)" }.joined(separator: "\n"))
                    },
                    on: connection)
            }
        }
    }

    /// The JSON of every pending notification, as its delivery reads it, in order.
    func notificationPayloads() async throws -> [[String: Any]] {
        let tenantID = self.tenantID
        let texts = try await database.withConnection { connection in
            try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
                try connection.query("SELECT notification_id FROM encours.notifications ORDER BY notification_id").rows.map {
                    try NotificationStore.pending(notificationID: try $0.decode(0, as: Int64.self), on: connection)?.payload ?? ""
                }
            }
        }
        return texts.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
    }

    func scores(customer: String? = nil, history: Bool = false) async throws -> [RiskView] {
        let tenantID = self.tenantID
        return try await database.withConnection {
            try RiskView.list(tenantID: tenantID, customerID: customer, history: history, limit: nil, on: $0)
        }
    }
}

@Suite("risk show's factors as the query lists them")
struct RiskFactorsTextTests {
    @Test("name:points pairs are read; anything else is left out")
    func factorsText() {
        #expect(RiskView.factors("") == [:])
        #expect(RiskView.factors("overdue_share:-12,credit_limit:0,trend:3") == ["overdue_share": -12, "credit_limit": 0, "trend": 3])
        #expect(RiskView.factors("bad,x:1.5,:3,y:4,z:") == ["y": 4])
    }
}

@Suite("Risk recalculation on PostgreSQL (figures worked by hand)")
struct RiskRecalcTests {
    @Test("every figure and factor of a late payer and a prompt one at 2026-06-30")
    func figuresByHand() async throws {
        try await TestDatabase.with { database in
            let fixture = try await RiskLedger.load(database)
            let outcome = try await fixture.recalc("2026-06-30")
            #expect(outcome.customers == 3)
            let views = try await fixture.scores()
            #expect(views.map(\.customerID) == ["L1", "N1", "P1"])  // riskiest first, then by id

            let late = try #require(views.first { $0.customerID == "L1" })
            // Open at 06-30: L-2 600 − 200 = 400.00, 60 days overdue; L-3 700.00 not yet due.
            #expect(late.exposure == "1100.00")
            #expect(late.overdue == "400.00")
            #expect(late.aging == AgingReport.Buckets(current: "700.00", days1To30: "0.00", days31To60: "400.00", days61To90: "0.00", over90: "0.00"))
            #expect(late.oldestOverdueDays == 60)
            #expect(late.creditLimit == "1000.00")
            #expect(late.creditLimitUtilization == 1.1)
            // (1000 × 30 + 200 × 40) ÷ 1200 = 31.67 days; last 90 days 40.0 against 30.0 before: +10.0.
            #expect(late.daysBeyondTerms == 31.7)
            #expect(late.daysBeyondTermsTrend == 10.0)
            #expect(late.openDisputes == 1)
            #expect(late.brokenPromises == 1)
            // L-3 is payable 90 days after issue, beyond the legal 60: 1 of 3 invoices.
            #expect(late.invoicesIssued12Months == 3)
            #expect(late.beyondLegalTermsShare == 33)
            // payment_delay ⅔ × (30 + 10 × 1.7 ÷ 30) = 20.4 → 20; overdue_share 25 × 400 ÷ 1100 = 9.1 → 9;
            // overdue_age 15 × 60 ÷ 120 = 7.5 → 8; credit_limit 25 × 1.1 − 20 = 7.5 → 8; dispute 5; promise 10.
            #expect(late.factors == [
                "payment_delay": -20, "overdue_share": -9, "overdue_age": -8, "credit_limit": -8, "open_disputes": -5, "broken_promises": -10,
            ])
            #expect(late.score == 40)
            #expect(late.grade == "D")
            #expect(late.recommendation == "stop_credit")

            let prompt = try #require(views.first { $0.customerID == "P1" })
            #expect(prompt.exposure == "500.00")
            #expect(prompt.overdue == "0.00")
            #expect(prompt.daysBeyondTerms == 0.0)
            #expect(prompt.brokenPromises == 0)  // P-2 was settled the day before the promised date
            #expect(prompt.score == 100)
            #expect(prompt.grade == "A")
            #expect(prompt.recommendation == "none")
            #expect(prompt.creditLimitUtilization == 0.05)

            let new = try #require(views.first { $0.customerID == "N1" })
            #expect(new.score == 100)
            #expect(new.daysBeyondTerms == nil)
            #expect(new.creditLimitUtilization == nil)
            #expect(new.beyondLegalTermsShare == nil)
        }
    }

    @Test("history keeps every recalculation; alerts fire once per change; D moves to strict, B brings it back, and dunning follows")
    func alertsAndStrictPolicy() async throws {
        try await TestDatabase.with { database in
            let fixture = try await RiskLedger.load(database)
            let tenantID = fixture.tenantID
            try await database.withConnection { connection in
                try connection.query(
                    """
                    UPDATE encours.tenants SET settings = settings
                        || '{"alert_email": "risk@acme.example", "webhook_url": "http://127.0.0.1:9/hook"}' WHERE id = $1
                    """, [tenantID])
                _ = try DunningPolicies.set(tenantID: tenantID, json: RiskLedger.strictPolicy, builtInTemplates: ["firm"], on: connection)
            }
            // Baseline on 1 March: L-1 29 days overdue, exposure at its limit: 100 − 25 − 4 − 5 = 66, C. No alert.
            let first = try await fixture.recalc("2026-03-01", customers: ["L1"])
            #expect(first.alerts == 0)
            #expect(try await fixture.scores(customer: "L1").first?.score == 66)

            // 30 June: D (worse) and over the limit (new): two alerts, in one email and one webhook event; moved to strict.
            let worse = try await fixture.recalc("2026-06-30")
            #expect(worse.alerts == 2)
            #expect(worse.notificationIDs.count == 2)
            #expect(worse.policySwitches == 1)
            #expect(try await fixture.count("risk_alerts") == 2)
            let kinds = try await database.withConnection { connection in
                try connection.query(
                    "SELECT kind || ':' || coalesce(from_grade, '-') || '>' || to_grade FROM encours.risk_alerts WHERE tenant_id = $1 ORDER BY kind",
                    [tenantID]
                ).rows.map { try $0.decode(0, as: String.self) }
            }
            #expect(kinds == ["credit_limit_exceeded:->D", "grade_worsened:C>D"])
            let channels = try await database.withConnection { connection in
                try connection.query(
                    """
                    SELECT source || ' ' || channel || ' ' || recipient || ' ' || status || ' ' || subject
                    FROM encours.notifications WHERE tenant_id = $1 ORDER BY notification_id
                    """,
                    [tenantID]
                ).rows.map { try $0.decode(0, as: String.self) }
            }
            #expect(channels == [
                "risk_recalc email risk@acme.example pending grade_worsened L1, credit_limit_exceeded L1",
                "risk_recalc webhook http://127.0.0.1:9/hook pending grade_worsened L1, credit_limit_exceeded L1",
            ])
            // The webhook's JSON is built when it is sent, from the alerts and their scores.
            let webhook = try #require(try await fixture.notificationPayloads().last)
            let alerts = try #require(webhook["alerts"] as? [[String: Any]])
            let event = [alerts.map { $0["kind"] as? String }, [alerts.first?["exposure"] as? String, alerts.first?["customer_name"] as? String,
                         alerts.first?["from_grade"] as? String, (webhook["total"] as? Int).map(String.init)]]
            #expect(event == [["grade_worsened", "credit_limit_exceeded"], ["1100.00", "Retard SARL", "C", "2"]])
            #expect(webhook["event"] as? String == "risk.alerts")

            // The same again: nothing new.
            let again = try await fixture.recalc("2026-06-30")
            #expect(again.alerts == 0)
            #expect(again.policySwitches == 0)
            #expect(try await fixture.scores(customer: "L1", history: true).count == 3)
            #expect(try await fixture.scores(customer: "L1").first?.strictPolicy == true)

            // A look back at 1 March, after 30 June: history only. No alert, L1 stays strict, and
            // risk show keeps the 30 June score as the latest.
            let past = try await fixture.recalc("2026-03-01")
            #expect(past.alerts == 0)
            #expect(past.policySwitches == 0)
            let shown = try #require(try await fixture.scores(customer: "L1").first)
            #expect(shown.asOf == "2026-06-30")
            #expect(shown.strictPolicy)
            #expect(try await fixture.scores(customer: "L1", history: true).map(\.asOf) == ["2026-06-30", "2026-06-30", "2026-03-01", "2026-03-01"])
            #expect(try await database.integer(
                "SELECT count(*) FROM encours.customer_risk WHERE tenant_id = $1 AND as_of = '2026-06-30' AND strict_policy", [tenantID]) == 1)

            // Dunning now uses `strict` for L1 (and `standard` for the others).
            let run = try await fixture.run("2026-06-30")
            let policies = Set(try await database.withConnection { connection in
                try connection.query(
                    "SELECT customer_id || '=' || policy FROM encours.reminders WHERE tenant_id = $1 AND run_id = $2",
                    [tenantID, run.runID ?? 0]
                ).rows.map { try $0.decode(0, as: String.self) }
            })
            #expect(policies == ["L1=strict"])

            // L1 pays everything; a year later, nothing open, no late payment in the window: A, back to its policy.
            try await fixture.load("payments", """
                payment_id,customer_id,invoice_id,received_on,amount
                LP-3,L1,L-2,2026-07-10,400.00
                LP-4,L1,L-3,2026-08-01,700.00

                """)
            let recovered = try await fixture.recalc("2027-07-15", customers: ["L1"])
            #expect(recovered.policySwitches == 1)
            let latest = try #require(try await fixture.scores(customer: "L1").first)
            #expect(latest.grade == "A")
            #expect(latest.policySwitch == "from_strict")
            #expect(!latest.strictPolicy)
            #expect(try await database.integer(
                "SELECT count(*) FROM encours.audit_log WHERE tenant_id = $1 AND action = 'risk_policy_switch'", [tenantID]) == 2)
            #expect(try await database.integer(
                "SELECT count(*) FROM encours.customer_risk WHERE tenant_id = $1 AND strict_policy", [tenantID]) == 0)
        }
    }

    @Test("450 alerts at once: one email digest listing 200, and three webhook events of at most 200 alerts")
    func alertFlood() async throws {
        try await TestDatabase.with { database in
            var customers = "customer_id,name,email,language,credit_limit\n"
            var invoices = "invoice_id,customer_id,issue_date,due_date,amount\n"
            for n in 0..<450 {
                // K0: a limit of 0.01 against 5,000.00, a utilisation of 50,000,000 % (past 32 bits of basis points).
                customers += "K\(n),Client \(n),,fr,\(n == 0 ? "0.01" : "100.00")\n"
                invoices += "I\(n),K\(n),2026-05-01,2026-05-31,\(n == 0 ? "5000.00" : "200.00")\n"
            }
            let fixture = try await DunningFixture.make(database, customers: customers, invoices: invoices)
            try await database.withConnection { [tenantID = fixture.tenantID] connection in
                _ = try connection.query(
                    """
                    UPDATE encours.tenants SET settings = settings
                        || '{"alert_email": "risk@acme.example", "webhook_url": "http://127.0.0.1:9/hook"}' WHERE id = $1
                    """, [tenantID])
            }
            let outcome = try await fixture.recalc("2026-06-30")
            #expect(outcome.alerts == 450)
            #expect(try await fixture.scores(customer: "K0").first?.creditLimitUtilization == 500_000)
            #expect(outcome.notificationIDs.count == 4)
            let parts = try await fixture.notificationPayloads().map { payload in
                "\(payload["part"] as? Int ?? 0)/\(payload["parts"] as? Int ?? 0) \((payload["alerts"] as? [Any])?.count ?? 0)"
            }
            #expect(parts == ["1/3 200", "1/3 200", "2/3 200", "3/3 50"])
            // The email's text is composed from all 450 alerts (RiskAlertMessage lists 200 and counts the rest).
            let email = try await database.withConnection { [tenantID = fixture.tenantID] connection in
                try connection.query(
                    "SELECT text_body FROM encours.notifications WHERE tenant_id = $1 AND channel = 'email'", [tenantID]
                ).decode(String.self, row: 0, column: 0)
            }
            #expect(email.split(separator: "\n").count == 450)
        }
    }

    @Test("two recalculations racing raise each alert once")
    func racingRecalcs() async throws {
        try await TestDatabase.with { database in
            let fixture = try await RiskLedger.load(database)
            try await fixture.recalc("2026-03-01")
            async let one = fixture.recalc("2026-06-30")
            async let two = fixture.recalc("2026-06-30")
            let outcomes = try await [one, two]
            #expect(outcomes.map(\.alerts).sorted() == [0, 2])
            #expect(try await fixture.count("risk_alerts") == 2)
            #expect(try await fixture.count("risk_recalcs") == 3)
        }
    }

    @Test("a tenant sees only its own scores, and cannot name another tenant's customer")
    func isolation() async throws {
        try await TestDatabase.with { database in
            let acme = try await RiskLedger.load(database, "acme")
            let otherID = try await makeTenant(database, "other")
            let other = DunningFixture(database: database, slug: "other", tenantID: otherID)
            try await acme.recalc("2026-06-30")
            #expect(try await other.recalc("2026-06-30").customers == 0)
            #expect(try await other.scores().isEmpty)
            await #expect(throws: LedgerStoreError.self) { try await other.recalc("2026-06-30", customers: ["L1"]) }
            await #expect(throws: LedgerStoreError.self) { try await other.scores(customer: "L1") }
            // Row-level security, not only WHERE clauses: the tenant role reads nothing of acme's.
            let seen = try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: otherID, commit: false, on: connection) {
                    try $0.query("SELECT (SELECT count(*) FROM encours.risk_scores) + (SELECT count(*) FROM encours.customer_risk)")
                        .decode(Int.self, row: 0, column: 0)
                }
            }
            #expect(seen == 0)
        }
    }

    @Test("report dso: countback, best possible, days delinquent and CEI from the ledger, by hand")
    func dsoByHand() async throws {
        try await TestDatabase.with { database in
            let fixture = try await RiskLedger.load(database)
            let tenantID = fixture.tenantID
            let report = try await database.withConnection {
                try DSOReport.compute(tenantID: tenantID, asOf: try CalendarDate(parsing: "2026-06-30"), on: $0)
            }
            // Rolling months (06-30 minus one month is 05-30): (05-30, 06-30] 31 days: P-3 500.00;
            // (04-30, 05-30] 30 days: P-2 2000 + L-3 700 = 2700.00; (03-30, 04-30] 31 days: L-2 600.00.
            #expect(report.months.map(\.sales) == ["500.00", "2700.00", "600.00"])
            #expect(report.months.map(\.days) == [31, 30, 31])
            #expect(report.months.map(\.start) == ["2026-05-31", "2026-05-01", "2026-03-31"])
            // Receivables at 06-30: P-3 500 + L-2 400 + L-3 700 = 1600.00, not yet due 1200.00.
            #expect(report.receivables == "1600.00")
            #expect(report.currentReceivables == "1200.00")
            // 1600 > 500: 31 days, 1100 left; 1100 ÷ 2700 × 30 = 12.22: DSO 43.2.
            #expect(report.dso == 43.2)
            // 1200 ÷ 3800 × 92 = 29.05: 29.1; days delinquent 43.2 − 29.1 = 14.1.
            #expect(report.bestPossibleDSO == 29.1)
            #expect(report.averageDaysDelinquent == 14.1)
            // CEI over (05-30, 06-30]: opening at 05-30 = L-2 600 + L-3 700 = 1300 (P-2 paid that day);
            // (1300 + 500 − 1600) ÷ (1300 + 500 − 1200) = 200 ÷ 600 = 33.3 %.
            #expect(report.ceiPeriod.openingReceivables == "1300.00")
            #expect(report.cei == 33.3)
        }
    }
}
