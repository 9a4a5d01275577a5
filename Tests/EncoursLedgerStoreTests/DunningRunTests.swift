import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursTenancy
import EncoursTestSupport
import Foundation
import Testing

/// A tenant with a ledger loaded from CSV text, and dunning runs against it.
struct DunningFixture {
    let database: TestDatabase
    let slug: String
    let tenantID: Int64

    static func make(_ database: TestDatabase, _ slug: String = "acme", customers: String, invoices: String, payments: String? = nil) async throws -> DunningFixture {
        let tenantID = try await makeTenant(database, slug)
        let fixture = DunningFixture(database: database, slug: slug, tenantID: tenantID)
        try await fixture.load("customers", customers)
        try await fixture.load("invoices", invoices)
        if let payments { try await fixture.load("payments", payments) }
        return fixture
    }

    func load(_ kind: String, _ text: String) async throws {
        let path = try csvFile("\(kind).csv", text)
        let slug = self.slug
        _ = try await database.withConnection { try LedgerHelpers.importFile(kind: kind, tenantSlug: slug, path: path, dryRun: false, on: $0) }
    }

    /// Runs dunning at `date`; a dry run rolls back.
    func run(_ date: String, dryRun: Bool = false) async throws -> DunningRun.Outcome {
        let tenantID = self.tenantID
        let asOf = try CalendarDate(parsing: date)
        return try await database.withConnection { connection in
            try TenantScope.transaction(tenantID: tenantID, actor: "test", commit: !dryRun, on: connection) { connection in
                try DunningRun.perform(asOf: asOf, dryRun: dryRun, jobID: nil, listReminders: true, on: connection)
            }
        }
    }

    /// The invoice's level and the date it reached it.
    func level(_ invoice: String) async throws -> (Int, String?) {
        let tenantID = self.tenantID
        return try await database.withConnection { connection in
            guard let row = try connection.query(
                "SELECT level, level_reached_on::text FROM encours.invoice_dunning WHERE tenant_id = $1 AND invoice_id = $2", [tenantID, invoice]
            ).first else { return (0, nil) }
            return (try row.decode(0, as: Int.self), row[1])
        }
    }

    func count(_ table: String) async throws -> Int {
        let sql = "SELECT count(*) FROM encours." + table + " WHERE tenant_id = $1"
        return try await database.integer(sql, [tenantID])
    }
}

let dunningCustomers = """
    customer_id,name,email,language,on_hold
    C1,Dupont SA,compta@dupont.example,fr,false
    C2,Acme Ltd,ap@acme.example,en,false
    C3,Held SARL,held@example.com,fr,true
    C4,Sans Courriel,,fr,false

    """

@Suite("Dunning runs (the rules of a run, on PostgreSQL)")
struct DunningRunTests {
    @Test("eligibility: open, not on hold, no open dispute, no live promise; a broken promise no longer protects")
    func eligibility() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(
                database, customers: dunningCustomers,
                invoices: """
                    invoice_id,customer_id,issue_date,due_date,amount
                    PAID,C1,2025-01-01,2025-01-31,100.00
                    OPEN,C1,2025-01-01,2025-01-31,200.00
                    HELD,C3,2025-01-01,2025-01-31,300.00
                    DISPUTED,C2,2025-01-01,2025-01-31,400.00
                    PROMISED,C2,2025-01-01,2025-01-31,500.00
                    BROKEN,C4,2025-01-01,2025-01-31,600.00

                    """,
                payments: """
                    payment_id,customer_id,received_on,amount,invoice_id
                    P1,C1,2025-02-01,100.00,PAID

                    """)
            let slug = fixture.slug
            _ = try await database.withConnection { connection in
                try LedgerHelpers.openDispute(tenantSlug: slug, invoiceID: "DISPUTED", reason: "quality", amount: nil, on: connection)
                _ = try LedgerHelpers.addPromise(tenantSlug: slug, customerID: "C2", amount: "500", date: "2025-02-10", invoiceID: "PROMISED", on: connection)
                // Covers all of C4's invoices, but its date is before the run: broken.
                return try LedgerHelpers.addPromise(tenantSlug: slug, customerID: "C4", amount: "600", date: "2025-02-05", invoiceID: nil, on: connection)
            }
            let outcome = try await fixture.run("2025-02-06")
            let listed = Set(outcome.reminders.flatMap { $0.items.map(\.invoiceID) })
            #expect(listed == ["OPEN", "BROKEN"])
            #expect(outcome.reminderCount == 2)
            #expect(outcome.invoicesMoved == 2)
            // The promise protects up to its date included.
            let later = try await fixture.run("2025-02-10")
            #expect(later.reminders.isEmpty)
            let afterPromise = try await fixture.run("2025-02-11")
            #expect(afterPromise.reminders.flatMap { $0.items.map(\.invoiceID) } == ["PROMISED"])
            #expect(try await fixture.level("HELD").0 == 0)
            #expect(try await fixture.level("DISPUTED").0 == 0)
        }
    }

    @Test("one level per run, the minimum gap between reminders, and an idempotent re-run at the same date")
    func oneLevelPerRunAndGap() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(
                database, customers: dunningCustomers,
                invoices: "invoice_id,customer_id,issue_date,due_date,amount\nLATE,C1,2025-01-01,2025-01-31,1000.00\n")
            // 60 days overdue: every level's days_after_due is reached, yet it moves to 1 only.
            let first = try await fixture.run("2025-04-01")
            #expect(first.reminders.map(\.level) == [1])
            #expect(try await fixture.level("LATE") == (1, "2025-04-01"))
            // Same date again: nothing new.
            let again = try await fixture.run("2025-04-01")
            #expect(again.reminderCount == 0)
            #expect(try await fixture.count("reminders") == 1)
            // 6 days later: the 7-day gap holds it.
            #expect(try await fixture.run("2025-04-07").reminderCount == 0)
            let second = try await fixture.run("2025-04-08")
            #expect(second.reminders.map(\.level) == [2])
            #expect(second.reminders[0].items[0].previousLevel == 1)
            #expect(try await fixture.level("LATE") == (2, "2025-04-08"))
        }
    }

    @Test("one reminder per customer and currency; it lists the other overdue eligible invoices, at the highest level")
    func groupingAndListing() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(
                database, customers: dunningCustomers,
                invoices: """
                    invoice_id,customer_id,issue_date,due_date,amount,currency
                    OLD,C1,2025-01-01,2025-01-31,100.00,EUR
                    NEW,C1,2025-02-01,2025-03-03,50.00,EUR
                    NOTDUE,C1,2025-03-01,2025-04-30,70.00,EUR
                    DOLLAR,C1,2025-01-01,2025-01-31,80.00,USD

                    """)
            _ = try await fixture.run("2025-02-01")  // OLD (1 day) and DOLLAR move to 1; NEW is not due
            let outcome = try await fixture.run("2025-03-04")
            // EUR: OLD moved to 2 (31 days ≥ 15, gap 31 ≥ 7), NEW moved to 1, NOTDUE not listed.
            // USD: DOLLAR moves to 2 in its own reminder.
            #expect(outcome.reminders.count == 2)
            let euro = try #require(outcome.reminders.first { $0.currency == "EUR" })
            #expect(euro.items.map(\.invoiceID) == ["OLD", "NEW"])
            #expect(euro.level == 2)
            #expect(euro.template == "firm")
            #expect(euro.totalBalance == "150.00")
            let dollar = try #require(outcome.reminders.first { $0.currency == "USD" })
            #expect(dollar.items.map(\.invoiceID) == ["DOLLAR"])

            // An overdue eligible invoice that does not move is listed beside one that does.
            try await fixture.load("invoices", "invoice_id,customer_id,issue_date,due_date,amount\nFRESH,C1,2025-03-01,2025-03-05,30.00\n")
            let third = try await fixture.run("2025-03-06")
            let listed = try #require(third.reminders.first)
            #expect(listed.items.map(\.invoiceID).sorted() == ["FRESH", "NEW", "OLD"])
            #expect(listed.items.first { $0.invoiceID == "OLD" }?.level == 2)  // listed, not moved (gap)
            #expect(listed.items.first { $0.invoiceID == "FRESH" }?.level == 1)
            #expect(listed.level == 2)
            #expect(try await fixture.level("OLD") == (2, "2025-03-04"))
        }
    }

    @Test("a group whose listed balances total less than min_amount gets no reminder and nothing moves")
    func minimumAmount() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(
                database, customers: dunningCustomers,
                invoices: """
                    invoice_id,customer_id,issue_date,due_date,amount
                    SMALL1,C1,2025-01-01,2025-01-31,7.00
                    SMALL2,C1,2025-01-01,2025-01-31,7.99
                    ENOUGH1,C2,2025-01-01,2025-01-31,7.00
                    ENOUGH2,C2,2025-01-01,2025-01-31,8.00

                    """)
            let outcome = try await fixture.run("2025-02-05")
            #expect(outcome.reminders.map(\.customerID) == ["C2"])
            #expect(outcome.reminders[0].totalBalance == "15.00")
            #expect(try await fixture.level("SMALL1").0 == 0)
            #expect(try await fixture.level("ENOUGH1").0 == 1)
        }
    }

    @Test("a dry run shows what a run would record and changes nothing; the real run then records exactly that")
    func dryRun() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(
                database, customers: dunningCustomers,
                invoices: "invoice_id,customer_id,issue_date,due_date,amount\nA,C1,2025-01-01,2025-01-31,120.00\nB,C4,2025-01-01,2025-01-31,99.00\n")
            let dry = try await fixture.run("2025-02-10", dryRun: true)
            #expect(dry.reminders.count == 2)
            #expect(dry.reminders.allSatisfy { $0.id == nil })
            #expect(try await fixture.count("reminders") == 0)
            #expect(try await fixture.count("dunning_runs") == 0)
            #expect(try await fixture.level("A").0 == 0)
            let real = try await fixture.run("2025-02-10")
            func shape(_ view: ReminderView) -> [String] {
                [view.customerID, view.currency, String(view.level), view.channel, view.totalBalance] + view.items.map { "\($0.invoiceID):\($0.level)" }
            }
            #expect(real.reminders.map(shape) == dry.reminders.map(shape))
            // A customer without an email address gets a letter.
            #expect(real.reminders.first { $0.customerID == "C4" }?.channel == "letter")
            #expect(real.reminders.first { $0.customerID == "C1" }?.recipient == "compta@dupont.example")
        }
    }

    @Test("formal notice: interest day by day at ECB + 10 points and 40.00 per overdue EUR invoice, to the cent")
    func penalties() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(
                database, customers: dunningCustomers,
                invoices: """
                    invoice_id,customer_id,issue_date,due_date,amount,currency
                    E1,C1,2025-03-01,2025-03-31,1000.00,EUR
                    U1,C1,2025-03-01,2025-03-31,1000.00,USD

                    """)
            for date in ["2025-04-01", "2025-04-15"] { _ = try await fixture.run(date) }
            let notice = try await fixture.run("2025-04-30")
            let euro = try #require(notice.reminders.first { $0.currency == "EUR" })
            #expect(euro.level == 3)
            #expect(euro.template == "formal_notice")
            // 100000 × 1315 × 30 ÷ 3,650,000 = 1080.82 cents (H1 2025: 3.15 % on 1 January + 10).
            #expect(euro.interest == "10.81")
            #expect(euro.indemnity == "40.00")
            #expect(euro.items[0].interest == "10.81")
            let dollar = try #require(notice.reminders.first { $0.currency == "USD" })
            #expect(dollar.interest == "10.81")
            #expect(dollar.indemnity == "0.00")  // no recovery_indemnity_usd set

            // Level 2 charged nothing.
            let earlier = try await fixture.database.withConnection { [tenantID = fixture.tenantID] connection in
                try ReminderView.list(tenantID: tenantID, customerID: "C1", on: connection)
            }
            #expect(earlier.filter { $0.level < 3 }.allSatisfy { $0.interest == "0.00" && $0.indemnity == "0.00" })
        }
    }

    @Test("a tenant's margin and indemnities are used; a partial payment mid-period lowers the interest")
    func tenantPenaltySettings() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(
                database, customers: dunningCustomers,
                invoices: """
                    invoice_id,customer_id,issue_date,due_date,amount,currency
                    E1,C1,2025-01-01,2025-01-31,2000.00,EUR
                    U1,C2,2025-01-01,2025-01-31,100.00,USD

                    """,
                payments: "payment_id,customer_id,received_on,amount,invoice_id\nP1,C1,2025-02-20,1200.00,E1\n")
            try await database.withConnection { [tenantID = fixture.tenantID] connection in
                _ = try connection.query(
                    """
                    UPDATE encours.tenants SET settings = settings || '{"penalty_margin_points": "8", "recovery_indemnity_usd": "45.00"}'
                    WHERE id = $1
                    """, [tenantID])
            }
            // A policy that charges from the first level, so one run shows the penalty.
            try await database.withConnection { [tenantID = fixture.tenantID] connection in
                _ = try DunningPolicies.set(
                    tenantID: tenantID,
                    json: #"{"name": "standard", "min_amount": "0", "levels": [{"level": 1, "days_after_due": 1, "channel": "email", "template": "formal_notice", "charge_penalties": true}]}"#,
                    builtInTemplates: ["formal_notice"], on: connection)
            }
            let outcome = try await fixture.run("2025-03-02")
            let euro = try #require(outcome.reminders.first { $0.currency == "EUR" })
            // 19 days on 2,000.00 then 11 days on 800.00 at 3.15 + 8 = 11.15 %:
            // (200000 × 19 + 80000 × 11) × 1115 ÷ 3,650,000 = 1429.64 cents → 14.30
            #expect(euro.interest == "14.30")
            #expect(euro.items[0].balance == "800.00")
            let dollar = try #require(outcome.reminders.first { $0.currency == "USD" })
            #expect(dollar.indemnity == "45.00")
        }
    }

    @Test("a customer walks from level 1 to level 4 across months, then nothing more")
    func fullEscalation() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(
                database, customers: dunningCustomers,
                invoices: "invoice_id,customer_id,issue_date,due_date,amount\nX,C1,2025-05-01,2025-05-31,500.00\n")
            var levels: [Int] = []
            var channels: [String] = []
            for date in ["2025-06-01", "2025-06-15", "2025-06-30", "2025-07-15", "2025-08-15", "2025-09-15"] {
                let outcome = try await fixture.run(date)
                levels += outcome.reminders.map(\.level)
                channels += outcome.reminders.map(\.channel)
            }
            #expect(levels == [1, 2, 3, 4])
            #expect(channels == ["email", "email", "email", "webhook"])
            #expect(try await fixture.level("X") == (4, "2025-07-15"))
            #expect(try await fixture.count("reminders") == 4)
            #expect(try await fixture.count("reminder_items") == 4)
        }
    }

    @Test("a run sees only its own tenant's ledger")
    func isolation() async throws {
        try await TestDatabase.with { database in
            let first = try await DunningFixture.make(
                database, "first", customers: dunningCustomers, invoices: "invoice_id,customer_id,issue_date,due_date,amount\nA,C1,2025-01-01,2025-01-31,100.00\n")
            let second = try await DunningFixture.make(
                database, "second", customers: dunningCustomers, invoices: "invoice_id,customer_id,issue_date,due_date,amount\nA,C1,2025-01-01,2025-01-31,100.00\n")
            #expect(try await first.run("2025-02-05").reminderCount == 1)
            #expect(try await second.level("A").0 == 0)
            #expect(try await second.count("reminders") == 0)
            #expect(try await second.run("2025-02-05").reminderCount == 1)
        }
    }

    @Test("ten runs racing at the same date record one set of reminders")
    func racingRuns() async throws {
        try await TestDatabase.with { database in
            var invoices = "invoice_id,customer_id,issue_date,due_date,amount\n"
            for index in 0..<40 { invoices += "I\(index),C\(index % 2 + 1),2025-01-01,2025-01-31,\(index + 20).00\n" }
            let fixture = try await DunningFixture.make(database, customers: dunningCustomers, invoices: invoices)
            let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<10 { group.addTask { try await fixture.run("2025-02-05").reminderCount } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // One run records both customers' reminders; the nine others wait for its lock and find nothing to move.
            #expect(counts.sorted() == Array(repeating: 0, count: 9) + [2])
            #expect(try await fixture.count("reminders") == 2)
            #expect(try await fixture.count("reminder_items") == 40)
        }
    }
}
