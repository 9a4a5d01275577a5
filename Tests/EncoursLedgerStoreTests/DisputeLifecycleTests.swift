import EncoursLedger
import EncoursLedgerStore
import EncoursMigrations
import EncoursPostgres
import EncoursTenancy
import EncoursTestSupport
import Foundation
import Testing

/// A tenant's disputes, their escalations and resolutions, against a real PostgreSQL.
extension DunningFixture {
    /// Runs `disputes.escalate` at `at` as the job does (without the job).
    func escalate(_ at: String) async throws -> DisputeEscalationRun.Outcome {
        let tenantID = self.tenantID
        let instant = try EscalationInstant(parsing: at)
        return try await database.withConnection { connection in
            try TenantScope.transaction(tenantID: tenantID, actor: "test escalation", on: connection) { connection in
                try DisputeEscalationRun.perform(
                    at: instant, jobID: nil,
                    compose: { NotificationText(subject: "\($0.count) for \($0[0].tierName)", text: $0.map(\.disputeID).joined(separator: ",")) },
                    on: connection)
            }
        }
    }

    func show(_ id: String) async throws -> Disputes.Detail {
        let tenantID = self.tenantID
        return try await database.withConnection { try Disputes.show(tenantID: tenantID, disputeID: id, on: $0) }
    }

    func resolve(_ id: String, _ outcome: String, amount: String? = nil) async throws -> Disputes.Resolution {
        let tenantID = self.tenantID
        return try await database.withConnection { try Disputes.resolve(tenantID: tenantID, disputeID: id, outcome: outcome, amount: amount, on: $0) }
    }

    func open(_ invoice: String, _ reason: String, amount: String? = nil, note: String? = nil) async throws -> Disputes.Dispute {
        let tenantID = self.tenantID
        return try await database.withConnection {
            try Disputes.open(tenantID: tenantID, invoiceID: invoice, reason: reason, note: note, amount: amount, on: $0)
        }
    }

    func set(_ key: String, _ value: String, json: Bool = false) async throws {
        let slug = self.slug
        _ = try await database.withConnection { try TenantStore.updateSetting(slug: slug, key: key, value: value, json: json, on: $0) }
    }

    /// The tenant's notifications from escalations: (channel, recipient, status, payload).
    func escalationNotifications() async throws -> [(String, String, String, String?)] {
        let tenantID = self.tenantID
        return try await database.withConnection { connection in
            try connection.query(
                """
                SELECT channel, recipient, status, payload::text FROM encours.notifications
                WHERE tenant_id = $1 AND source = 'dispute_escalation' ORDER BY notification_id
                """, [tenantID]
            ).rows.map { (try $0.decode(0), try $0.decode(1), try $0.decode(2), try $0.decode(3)) }
        }
    }
}

/// The tiers of the tests: the default SLAs, each tier notified.
let notifiedPolicy = """
    {"tiers": [{"name": "account_manager", "sla_days": 5, "notify": "email:am@acme.example"},
               {"name": "finance_manager", "sla_days": 5, "notify": "email:finance@acme.example"},
               {"name": "legal", "sla_days": 10, "notify": "webhook"}]}
    """

@Suite("Disputes: lifecycle, escalation timeline, dunning hold and release (on PostgreSQL)")
struct DisputeLifecycleTests {
    static let invoices = """
        invoice_id,customer_id,issue_date,due_date,amount
        X,C1,2025-05-01,2025-05-31,500.00
        Y,C2,2025-05-01,2025-05-31,800.00
        Z,C4,2025-05-01,2025-05-31,200.00
        F1,C1,2026-03-01,2026-04-01,1000.00

        """

    @Test("the SPEC §7 timeline in the tenant's time zone: tier 1 → 2 → 3 → breached once, each tier notified, re-runs change nothing")
    func timeline() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(database, customers: dunningCustomers, invoices: Self.invoices)
            try await fixture.set("escalation_policy", notifiedPolicy, json: true)
            try await fixture.set("webhook_url", "https://hooks.acme.example/encours")
            try await fixture.load("disputes", "dispute_id,invoice_id,reason,opened_on,note\nD1,F1,quality,2026-04-27,Palettes abîmées\n")
            // Opened Mon 27 Apr 2026; tier 1 due 5 business days later, skipping 1 May: Tue 5 May.
            var detail = try await fixture.show("D1")
            #expect(detail.dispute.status == "open" && detail.dispute.tier == 1 && detail.dispute.deadline == "2026-05-05")
            #expect(detail.dispute.note == "Palettes abîmées")

            // 23:59 in Paris on 5 May (21:59 UTC): the deadline is not before T's date.
            var outcome = try await fixture.escalate("2026-05-05T21:59:00Z")
            #expect(outcome.escalationID == nil && outcome.escalated == 0)
            #expect(outcome.onDate == (try CalendarDate(parsing: "2026-05-05")))
            // 00:30 in Paris on 6 May (22:30 UTC on 5 May): tier 2, due 6 May + 5 skipping 8 and 14 May = Fri 15 May.
            outcome = try await fixture.escalate("2026-05-05T22:30:00Z")
            #expect(outcome.escalated == 1 && outcome.breached == 0 && outcome.notificationIDs.count == 1)
            #expect(outcome.onDate == (try CalendarDate(parsing: "2026-05-06")))
            detail = try await fixture.show("D1")
            #expect(detail.dispute.status == "escalated" && detail.dispute.tier == 2 && detail.dispute.deadline == "2026-05-15")
            #expect(detail.tierName == "finance_manager")

            // The same T again, then a later T the same day: nothing changes, nothing is recorded.
            let before = (try await fixture.count("dispute_events"), try await fixture.count("notifications"), try await fixture.count("dispute_escalations"))
            #expect(try await fixture.escalate("2026-05-05T22:30:00Z").escalationID == nil)
            #expect(try await fixture.escalate("2026-05-06T18:00:00+02:00").escalationID == nil)
            #expect(try await fixture.escalate("2026-05-15T23:00").escalationID == nil)
            let after = (try await fixture.count("dispute_events"), try await fixture.count("notifications"), try await fixture.count("dispute_escalations"))
            #expect(before == after)

            // Mon 18 May: tier 3 (legal, 10 days), due 18 May + 10 skipping Whit Monday 25 May = Tue 2 June.
            outcome = try await fixture.escalate("2026-05-18T09:00:00+02:00")
            #expect(outcome.escalated == 1)
            detail = try await fixture.show("D1")
            #expect(detail.dispute.tier == 3 && detail.dispute.deadline == "2026-06-02" && !detail.dispute.breached)
            #expect(try await fixture.escalate("2026-06-02").escalationID == nil)
            // 3 June: past the last tier's deadline, breached (once); the tier keeps its deadline.
            outcome = try await fixture.escalate("2026-06-03")
            #expect(outcome.escalated == 0 && outcome.breached == 1)
            detail = try await fixture.show("D1")
            #expect(detail.dispute.tier == 3 && detail.dispute.deadline == "2026-06-02" && detail.dispute.breached)
            #expect(try await fixture.escalate("2026-06-04").escalationID == nil)
            #expect(try await fixture.escalate("2026-12-31").escalationID == nil)

            #expect(detail.events.map(\.kind) == ["opened", "escalated", "escalated", "breached"])
            #expect(detail.events.map(\.tier) == [1, 2, 3, 3])
            #expect(detail.events.map(\.deadline) == ["2026-05-05", "2026-05-15", "2026-06-02", "2026-06-02"])
            #expect(detail.events.map(\.tierName) == ["account_manager", "finance_manager", "legal", "legal"])
            #expect(detail.events[0].actor == "encours import" && detail.events[1].actor == "test escalation")
            #expect(detail.events[1].at == "2026-05-05T22:30:00Z" && detail.events[2].at == "2026-05-18T07:00:00Z")

            // Tier 2 by email, tier 3 by webhook (escalated, then breached): each JSON event names the dispute.
            let notifications = try await fixture.escalationNotifications()
            #expect(notifications.map(\.0) == ["email", "webhook", "webhook"])
            #expect(notifications.map(\.1) == ["finance@acme.example", "https://hooks.acme.example/encours", "https://hooks.acme.example/encours"])
            #expect(notifications.allSatisfy { $0.2 == "pending" })
            let events = try notifications.dropFirst().map { try JSONSerialization.jsonObject(with: Data(($0.3 ?? "").utf8)) as? [String: Any] }
            #expect(events.map { $0?["event"] as? String } == ["disputes.escalated", "disputes.escalated"])
            let entries = events.map { ($0?["disputes"] as? [[String: Any]])?.first }
            #expect(entries.map { $0?["event"] as? String } == ["dispute.escalated", "dispute.breached"])
            #expect(entries.map { $0?["dispute_id"] as? String } == ["D1", "D1"])
            #expect(entries.map { $0?["invoice_amount"] as? String } == ["1000.00", "1000.00"])
            #expect(entries.map { $0?["customer_name"] as? String } == ["Dupont SA", "Dupont SA"])

            // Resolved, it never escalates again.
            let resolution = try await fixture.resolve("D1", "withdrawn")
            #expect(resolution.dispute.status == "resolved" && resolution.dispute.outcome == "withdrawn" && resolution.creditNoteID == nil)
            #expect(try await fixture.escalate("2027-06-01").escalationID == nil)
            #expect(try await fixture.show("D1").events.map(\.kind).last == "resolved")
        }
    }

    @Test("dunning: an open dispute holds its invoice at its level; upheld and withdrawn release it there, a credit note reduces or closes it")
    func holdAndRelease() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(database, customers: dunningCustomers, invoices: Self.invoices)
            #expect(try await fixture.run("2025-06-01").invoicesMoved == 3)
            for invoice in ["X", "Y", "Z"] { #expect(try await fixture.level(invoice) == (1, "2025-06-01")) }

            let x = try await fixture.open("X", "quality")
            let y = try await fixture.open("Y", "pricing", amount: "300,00")
            let z = try await fixture.open("Z", "not_received")
            // Held: two weeks later nothing moves, and nothing is reminded.
            let held = try await fixture.run("2025-06-15")
            #expect(held.invoicesMoved == 0 && held.reminderCount == 0)
            for invoice in ["X", "Y", "Z"] { #expect(try await fixture.level(invoice) == (1, "2025-06-01")) }
            #expect(try await fixture.show(x.id).dunningLevel == 1)

            // X upheld: back at level 1, so the next run takes it to 2 (not to 1, not to 3).
            let upheld = try await fixture.resolve(x.id, "upheld")
            #expect(upheld.invoiceBalance == "500.00" && upheld.creditNoteID == nil)
            // Y: a credit note of the disputed 300.00 leaves 500.00.
            let credited = try await fixture.resolve(y.id, "credit_note")
            #expect(credited.creditedAmount == "300.00" && credited.invoiceBalance == "500.00")
            #expect(credited.creditNoteID == "CN-" + y.id && credited.dispute.creditNoteID == "CN-" + y.id)
            // Z: a credit note of the whole balance closes it.
            let closed = try await fixture.resolve(z.id, "credit_note")
            #expect(closed.creditedAmount == "200.00" && closed.invoiceBalance == "0.00")

            let released = try await fixture.run("2025-06-15")
            #expect(try await fixture.level("X") == (2, "2025-06-15"))
            #expect(try await fixture.level("Y") == (2, "2025-06-15"))
            #expect(try await fixture.level("Z") == (1, "2025-06-01"))
            let items = released.reminders.flatMap(\.items)
            #expect(Set(items.map(\.invoiceID)) == ["X", "Y"])
            #expect(items.first { $0.invoiceID == "Y" }?.balance == "500.00")
            #expect(try await fixture.show(z.id).invoiceBalance == "0.00")
            #expect(try await fixture.show(y.id).events.map(\.kind) == ["opened", "resolved"])
            #expect(try await fixture.show(y.id).events.last?.amount == "300.00")
        }
    }

    @Test("refusals name what is wrong and change nothing")
    func refusals() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(database, customers: dunningCustomers, invoices: Self.invoices, payments: """
                payment_id,customer_id,received_on,amount,invoice_id
                P1,C4,2025-06-02,200.00,Z

                """)
            func message(_ body: () async throws -> Void) async -> String {
                do { try await body() } catch { return "\(error)" }
                return "no error"
            }
            #expect(await message { _ = try await fixture.open("X", "late") }
                == "invalid --reason: unknown reason \"late\": expected one of pricing, quality, quantity, not_received, duplicate_billing, other")
            #expect(await message { _ = try await fixture.open("NOPE", "quality") } == "unknown invoice \"NOPE\"")
            #expect(await message { _ = try await fixture.open("Z", "quality") } == "invoice Z is settled (balance 0.00): nothing to dispute")
            #expect(await message { _ = try await fixture.open("X", "quality", amount: "500,01") }
                == "invalid --amount 500.01: more than the invoice balance 500.00")
            let dispute = try await fixture.open("X", "Qualité", amount: "100")
            #expect(dispute.reason == "quality" && dispute.amount == "100.00")
            #expect(await message { _ = try await fixture.open("X", "pricing") }
                == "invoice X already has an unresolved dispute, \(dispute.id): resolve it first")
            #expect(await message { _ = try await fixture.resolve(dispute.id, "refunded") }
                == "unknown --outcome \"refunded\": expected credit_note, upheld or withdrawn")
            #expect(await message { _ = try await fixture.resolve(dispute.id, "upheld", amount: "10") }
                == "--amount is only for --outcome credit_note (a upheld dispute credits nothing)")
            #expect(await message { _ = try await fixture.resolve(dispute.id, "credit_note", amount: "600") }
                == "invalid --amount 600.00: more than the invoice balance 500.00")
            #expect(await message { _ = try await fixture.resolve("D404", "upheld") } == "unknown dispute \"D404\"")
            #expect(try await fixture.count("dispute_events") == 1)
            #expect(try await fixture.show(dispute.id).dispute.status == "open")
            let resolution = try await fixture.resolve(dispute.id, "credit_note", amount: "50")
            #expect(resolution.invoiceBalance == "450.00")
            #expect(await message { _ = try await fixture.resolve(dispute.id, "withdrawn") }.hasPrefix("dispute \(dispute.id) was already resolved on "))
            #expect(try await fixture.count("dispute_events") == 2)
            #expect(try await fixture.count("invoices") == 5)
        }
    }

    @Test("re-importing the disputes file after a credit note used the balance up changes nothing and is not refused")
    func reimportAfterResolution() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(database, customers: dunningCustomers, invoices: Self.invoices)
            let file = "dispute_id,invoice_id,reason,opened_on,amount\nD1,X,pricing,2026-04-27,500.00\nD2,Y,quality,2026-04-27,100.00\n"
            try await fixture.load("disputes", file)
            #expect(try await fixture.resolve("D1", "credit_note").invoiceBalance == "0.00")
            // A payment since leaves Y less than D2's disputed 100.00.
            try await fixture.load("payments", "payment_id,customer_id,received_on,amount,invoice_id\nP1,C2,2026-05-02,750.00,Y\n")
            let path = try csvFile("disputes.csv", file)
            let slug = fixture.slug
            let outcome = try await database.withConnection { try LedgerHelpers.importFile(kind: "disputes", tenantSlug: slug, path: path, dryRun: false, on: $0) }
            #expect(outcome.inserted == 0 && outcome.updated == 0 && outcome.unchanged == 2)
            #expect(try await fixture.show("D1").dispute.status == "resolved")
            // A changed amount is checked against the balance as ever.
            let changed = try csvFile("changed.csv", "dispute_id,invoice_id,reason,opened_on,amount\nD2,Y,quality,2026-04-27,60.00\n")
            var refused = ""
            do { _ = try await database.withConnection { try LedgerHelpers.importFile(kind: "disputes", tenantSlug: slug, path: changed, dryRun: false, on: $0) } } catch {
                refused = "\(error)"
            }
            #expect(refused.contains("amount: more than the invoice balance (50.00)"), "\(refused)")
        }
    }

    @Test("a tier notified by webhook without a webhook_url: the notification is recorded failed with the reason, not sent")
    func webhookWithoutURL() async throws {
        try await TestDatabase.with { database in
            let fixture = try await DunningFixture.make(database, customers: dunningCustomers, invoices: Self.invoices)
            try await fixture.set("escalation_policy", #"{"tiers": [{"name": "am", "sla_days": 1}, {"name": "cfo", "sla_days": 1, "notify": "webhook"}]}"#, json: true)
            try await fixture.load("disputes", "dispute_id,invoice_id,reason,opened_on\nD1,F1,other,2026-04-27\nD2,X,pricing,2026-04-27\n")
            // Tier 1 (1 day): due Tue 28 April; on Wed 29 both move to tier 2, which notifies by webhook.
            let outcome = try await fixture.escalate("2026-04-29")
            #expect(outcome.escalated == 2 && outcome.notificationIDs.isEmpty && outcome.unaddressed == 1)
            let notifications = try await fixture.escalationNotifications()
            #expect(notifications.map(\.2) == ["failed"])
            let reason = try await database.withConnection { connection in
                try connection.query("SELECT failure_reason FROM encours.notifications WHERE source = 'dispute_escalation'").decode(String.self, row: 0, column: 0)
            }
            #expect(reason.contains("no webhook_url"))
            // Breach at the last tier (1 day from 29 April, skipping 1 May: Thu 30 April).
            #expect(try await fixture.escalate("2026-05-04").breached == 2)
        }
    }

    @Test("eight escalations racing at the same instant over 60 disputes record each move exactly once")
    func racingEscalations() async throws {
        try await TestDatabase.with { database in
            var invoices = "invoice_id,customer_id,issue_date,due_date,amount\n"
            var disputes = "dispute_id,invoice_id,reason,opened_on\n"
            for n in 1...60 {
                invoices += "I\(n),C\(n % 4 + 1),2026-03-01,2026-04-01,\(n * 10).00\n"
                disputes += "D\(n),I\(n),quantity,2026-04-\(n % 2 == 0 ? "27" : "20")\n"
            }
            let fixture = try await DunningFixture.make(database, customers: dunningCustomers, invoices: invoices)
            try await fixture.set("escalation_policy", notifiedPolicy, json: true)
            try await fixture.load("disputes", disputes)
            let outcomes = try await withThrowingTaskGroup(of: DisputeEscalationRun.Outcome.self) { group in
                for _ in 0..<8 { group.addTask { try await fixture.escalate("2026-05-06T12:00:00+02:00") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.map(\.escalated).reduce(0, +) == 60)
            #expect(outcomes.filter { $0.escalationID != nil }.count == 1)
            #expect(try await fixture.count("dispute_escalations") == 1)
            #expect(try await database.integer(
                "SELECT count(*) FROM encours.dispute_events WHERE tenant_id = $1 AND kind = 'escalated'", [fixture.tenantID]) == 60)
            // One email to the finance manager listing all 60.
            #expect(try await fixture.escalationNotifications().map(\.0) == ["email"])
        }
    }

    @Test("an escalation sees only its own tenant's disputes")
    func isolation() async throws {
        try await TestDatabase.with { database in
            let acme = try await DunningFixture.make(database, "acme", customers: dunningCustomers, invoices: Self.invoices)
            let other = try await DunningFixture.make(database, "other", customers: dunningCustomers, invoices: Self.invoices)
            try await acme.load("disputes", "dispute_id,invoice_id,reason,opened_on\nD1,F1,quality,2026-04-27\n")
            try await other.load("disputes", "dispute_id,invoice_id,reason,opened_on\nD1,F1,quality,2026-04-27\n")
            #expect(try await other.escalate("2026-05-06").escalated == 1)
            #expect(try await acme.show("D1").dispute.tier == 1)
            #expect(try await other.show("D1").dispute.tier == 2)
            var refused = ""
            do { _ = try await acme.resolve("D404", "upheld") } catch { refused = "\(error)" }
            #expect(refused == "unknown dispute \"D404\"")
        }
    }
}

@Suite("Migration 9 on disputes recorded before it")
struct DisputeMigrationTests {
    @Test("a free-text reason moves to the note under reason other; each old dispute gets its opening event")
    func freeTextReasons() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                try connection.execute("DROP SCHEMA encours CASCADE")
                _ = try Migrator.migrate(connection, migrations: Migrator.all.filter { $0.version <= 8 })
                let tenant = try TenantStore.create(slug: "old", name: "Old", currency: "EUR", locale: "fr", timezone: "Europe/Paris", on: connection)
                try connection.query("INSERT INTO encours.customers (tenant_id, customer_id, name) VALUES ($1, 'C1', 'Dupont')", [tenant.id])
                try connection.query(
                    """
                    INSERT INTO encours.invoices (tenant_id, invoice_id, customer_id, issue_date, due_date, amount_cents, currency)
                    VALUES ($1, 'F1', 'C1', '2026-03-01', '2026-03-31', 10000, 'EUR'), ($1, 'F2', 'C1', '2026-03-01', '2026-03-31', 10000, 'EUR')
                    """, [tenant.id])
                try connection.query(
                    """
                    INSERT INTO encours.disputes (tenant_id, dispute_id, invoice_id, reason, opened_on, deadline, tier)
                    VALUES ($1, 'D1', 'F1', 'Marchandise abîmée', '2026-04-27', '2026-05-05', 1),
                           ($1, 'D2', 'F2', 'pricing', '2026-04-27', '2026-05-15', 2)
                    """, [tenant.id])
                let applied = try Migrator.migrate(connection)
                #expect(applied.map(\.version).contains(9))
                let rows = try connection.query("SELECT dispute_id, reason, note FROM encours.disputes ORDER BY dispute_id").rows.map {
                    [try $0.decode(0, as: String.self), try $0.decode(1, as: String.self), try $0.decode(2, as: String?.self) ?? "-"]
                }
                #expect(rows == [["D1", "other", "Marchandise abîmée"], ["D2", "pricing", "-"]])
                let events = try connection.query("SELECT dispute_id, kind, tier, deadline::text FROM encours.dispute_events ORDER BY dispute_id").rows.map {
                    "\(try $0.decode(0, as: String.self)) \(try $0.decode(1, as: String.self)) \(try $0.decode(2, as: Int.self)) \(try $0.decode(3, as: String?.self) ?? "-")"
                }
                #expect(events == ["D1 opened 1 2026-05-05", "D2 opened 1 -"])
            }
        }
    }
}
