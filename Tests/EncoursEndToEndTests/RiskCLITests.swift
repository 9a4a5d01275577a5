import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Testing

@Suite("credit risk from the command line, with a real worker, SMTP server and webhook receiver")
struct RiskCLITests {
    static let customers = """
        customer_id,name,email,language,credit_limit,policy
        P1,Ponctuel SA,,fr,10000.00,
        L1,"Retard & Fils",,fr,1000.00,

        """
    static let invoices = """
        invoice_id,customer_id,issue_date,due_date,amount
        P-1,P1,2026-05-01,2026-05-31,2000.00
        L-1,L1,2026-01-01,2026-01-31,1000.00
        L-2,L1,2026-04-01,2026-05-01,600.00

        """
    static let payments = """
        payment_id,customer_id,invoice_id,received_on,amount
        PP-1,P1,P-1,2026-05-30,2000.00
        LP-1,L1,L-1,2026-03-02,1000.00

        """

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test("imports enqueue recalculations; --wait scores; a worse grade alerts once by email and signed webhook; dunning turns strict; report dso")
    func riskEndToEnd() async throws {
        let secret = "risk-hook-secret-0123456789"
        try await TestServers.withSMTPSink(SMTPSinkOptions()) { sink in
            try await TestServers.withWebhookReceiver(secret: secret) { receiver in
                try await TestDatabase.with { database in
                    _ = try await makeTenant(database, "acme")
                    let environment = deliveryEnvironment(database, smtpPort: sink.port)
                    func encours(_ arguments: [String]) async throws -> Binaries.Result {
                        try await Binaries.run("encours", arguments, environment: environment)
                    }
                    for (key, value) in [
                        ("smtp_from", "encours@acme.example"), ("alert_email", "risque@acme.example"), ("webhook_url", receiver.url()),
                        ("webhook_secret", secret),
                    ] {
                        #expect(try await encours(["tenant", "set", "acme", key, value]).status == 0)
                    }
                    let badSetting = try await encours(["tenant", "set", "acme", "risk_high_exposure", "lots"])
                    #expect(badSetting.status == 1)
                    #expect(badSetting.stderr.contains("risk_high_exposure"), "\(badSetting.stderr)")
                    let strict = try csvFile("strict.json", #"{"name": "strict", "min_amount": "0", "levels": [{"level": 1, "days_after_due": 1, "channel": "letter", "template": "firm"}]}"#)
                    #expect(try await encours(["policy", "set", "--tenant", "acme", strict]).status == 0)

                    // Each import that changes the ledger enqueues a recalculation of the customers it touched.
                    for (kind, text) in [("customers", Self.customers), ("invoices", Self.invoices), ("payments", Self.payments)] {
                        #expect(try await encours(["import", kind, "--tenant", "acme", try csvFile("\(kind).csv", text)]).status == 0)
                    }
                    #expect(try await encours(["import", "payments", "--tenant", "acme", "--dry-run", try csvFile("p.csv", Self.payments)]).status == 0)
                    #expect(try await encours(["import", "customers", "--tenant", "acme", try csvFile("c.csv", Self.customers)]).status == 0)
                    let automatic = try await database.withConnection { connection in
                        try connection.query("SELECT id, payload::text FROM encours.jobs WHERE kind = 'risk.recalc' ORDER BY id").rows.map {
                            (try $0.decode(0, as: Int64.self), try $0.decode(1, as: String.self))
                        }
                    }
                    #expect(automatic.count == 3, "one per import, none for the dry run or the unchanged re-import: \(automatic)")
                    #expect(automatic.first?.1 == #"{"customer_ids": ["L1", "P1"]}"#)
                    // Those run at today's date; this test walks through chosen dates, so it cancels them.
                    for (id, _) in automatic { #expect(try await encours(["jobs", "cancel", String(id)]).status == 0) }

                    let worker = try Binaries.start("encours-worker", ["--concurrency", "4", "--retry-base-seconds", "0.2"], environment: environment)
                    // Baseline on 1 March: L1 at C, nothing to say.
                    let baseline = try await encours(["risk", "recalc", "--tenant", "acme", "--as-of", "2026-03-01", "--wait", "--json"])
                    #expect(baseline.status == 0, "\(baseline.stderr)")
                    let first = try #require(try json(baseline.stdout) as? [String: Any])
                    #expect(first["state"] as? String == "completed")
                    #expect(first["customers"] as? Int == 2)
                    #expect(first["alerts"] as? Int == 0)

                    // 30 June: L-2 600.00 60 days overdue, L-1 paid 30 days late: 100 − 20 − 25 − 8 = 47, D
                    // (under its limit: 60 %). One alert (C → D), and L1 moves to `strict`.
                    let worse = try await encours(["risk", "recalc", "--tenant", "acme", "--as-of", "2026-06-30", "--wait"])
                    #expect(worse.status == 0, "\(worse.stderr)")
                    #expect(worse.stdout.contains("2 customers scored, 1 alert, 1 policy switch"), "\(worse.stdout)")
                    let shown = try #require(try json(try await encours(["risk", "show", "--tenant", "acme", "--json"]).stdout) as? [[String: Any]])
                    #expect(shown.map { $0["customer_id"] as? String } == ["L1", "P1"])
                    let late = try #require(shown.first)
                    for key in ["customer_id", "as_of", "score", "grade", "exposure", "overdue", "credit_limit_utilization", "days_beyond_terms",
                                "open_disputes", "broken_promises", "recommendation", "factors"] {
                        #expect(late.keys.contains(key), "risk show --json has \(key)")
                    }
                    #expect(late["as_of"] as? String == "2026-06-30")
                    #expect(late["exposure"] as? String == "600.00")
                    #expect(late["score"] as? Int == 47)
                    #expect(late["grade"] as? String == "D")
                    #expect(late["recommendation"] as? String == "require_deposit")
                    #expect(late["days_beyond_terms"] as? Double == 30.0)
                    #expect(late["credit_limit_utilization"] as? Double == 0.6)
                    #expect(late["strict_policy"] as? Bool == true)
                    #expect(late["factors"] as? [String: Int] == [
                        "payment_delay": -20, "overdue_share": -25, "overdue_age": -8, "credit_limit": 0, "open_disputes": 0, "broken_promises": 0,
                    ])

                    // The alerts reach the tenant: by email to alert_email (French, plain text) and by signed webhook.
                    let delivered = try await database.waitUntil(timeout: .seconds(60)) { connection in
                        try connection.query("SELECT count(*) FROM encours.notifications WHERE status = 'sent'").decode(Int.self, row: 0, column: 0) == 2
                    }
                    #expect(delivered)
                    let alerts = try await database.integer("SELECT count(*) FROM encours.risk_alerts")
                    #expect(alerts == 1)
                    let emails = try sink.messages().filter { $0.recipients.contains("risque@acme.example") }
                    #expect(emails.count == alerts)
                    #expect(emails.allSatisfy { ($0.subject ?? "").contains("Retard & Fils (L1)") }, "\(emails.map(\.subject))")
                    #expect(emails.contains { ($0.text ?? "").contains("Encours : 600,00\u{00A0}€") }, "\(emails.first?.text ?? "")")
                    let hooks = try receiver.deliveries()
                    #expect(hooks.count == 1)
                    let hook = try #require(hooks.first)
                    let body = try #require(try json(String(decoding: hook.body, as: UTF8.self)) as? [String: Any])
                    #expect(body["event"] as? String == "risk.alerts")
                    #expect(body["total"] as? Int == 1)
                    let event = try #require((body["alerts"] as? [[String: Any]])?.first)
                    #expect(event["event"] as? String == "risk.alert")
                    #expect(event["kind"] as? String == "grade_worsened")
                    #expect(event["customer_id"] as? String == "L1")
                    #expect(event["exposure"] as? String == "600.00")
                    #expect(event["from_grade"] as? String == "C" && event["grade"] as? String == "D")
                    let listed = try #require(try json(try await encours(["risk", "alerts", "--tenant", "acme", "--json"]).stdout) as? [[String: Any]])
                    #expect(listed.count == 2)
                    #expect(listed.allSatisfy { $0["status"] as? String == "sent" })

                    // The same date again: nothing new is raised or sent.
                    let again = try #require(try json(try await encours(["risk", "recalc", "--tenant", "acme", "--as-of", "2026-06-30", "--customer", "L1", "--wait", "--json"]).stdout) as? [String: Any])
                    #expect(again["alerts"] as? Int == 0)
                    #expect(again["customers"] as? Int == 1)
                    let history = try #require(try json(try await encours(["risk", "show", "--tenant", "acme", "--customer", "L1", "--history", "--json"]).stdout) as? [[String: Any]])
                    #expect(history.map { $0["as_of"] as? String } == ["2026-06-30", "2026-06-30", "2026-03-01"])

                    // A customer graded D or E is dunned under `strict`; the table says so.
                    let run = try await encours(["dunning", "run", "--tenant", "acme", "--as-of", "2026-06-30", "--wait"])
                    #expect(run.status == 0, "\(run.stderr)")
                    #expect(try await database.integer("SELECT count(*) FROM encours.reminders WHERE customer_id = 'L1' AND policy = 'strict'") == 1)
                    #expect(try await encours(["risk", "show", "--tenant", "acme"]).stdout.contains("require_deposit (strict policy)"))

                    // Receivables metrics at 30 June: 600.00 open (all overdue), nothing sold in June.
                    let dso = try #require(try json(try await encours(["report", "dso", "--tenant", "acme", "--as-of", "2026-06-30", "--json"]).stdout) as? [String: Any])
                    #expect(dso["receivables"] as? String == "600.00")
                    #expect(dso["current_receivables"] as? String == "0.00")
                    #expect(dso["cei"] as? Double == 0.0)
                    // Countback: 0 sold in (05-30, 06-30] (31 days), 2000 in (04-30, 05-30]: 31 + 600 ÷ 2000 × 30 = 40.0.
                    #expect(dso["dso"] as? Double == 40.0)
                    #expect(try await encours(["report", "dso", "--tenant", "acme"]).stdout.contains("DSO (countback, 3 months)"))

                    // A change after that: the import's own recalculation runs (today) and scores L1 again.
                    let before = try await database.integer("SELECT count(*) FROM encours.risk_scores WHERE customer_id = 'L1'")
                    #expect(try await encours(["import", "payments", "--tenant", "acme", try csvFile("p2.csv", """
                        payment_id,customer_id,invoice_id,received_on,amount
                        LP-2,L1,L-2,2026-07-10,600.00

                        """)]).status == 0)
                    let rescored = try await database.waitUntil(timeout: .seconds(30)) { connection in
                        try connection.query("SELECT count(*) FROM encours.risk_scores WHERE customer_id = 'L1'").decode(Int.self, row: 0, column: 0) == before + 1
                    }
                    #expect(rescored)

                    // Bad input: one line naming the value, exit 1, nothing enqueued.
                    let jobs = try await database.integer("SELECT count(*) FROM encours.jobs")
                    let unknown = try await encours(["risk", "recalc", "--tenant", "acme", "--customer", "NOPE"])
                    #expect(unknown.status == 1)
                    #expect(unknown.stderr.contains("no customer \"NOPE\""), "\(unknown.stderr)")
                    let badDate = try await encours(["risk", "recalc", "--tenant", "acme", "--as-of", "2026-02-30"])
                    #expect(badDate.status == 1)
                    #expect(badDate.stderr.contains("invalid --as-of \"2026-02-30\""), "\(badDate.stderr)")
                    #expect(try await database.integer("SELECT count(*) FROM encours.jobs") == jobs)
                    let unknownShow = try await encours(["risk", "show", "--tenant", "acme", "--customer", "NOPE"])
                    #expect(unknownShow.status == 1)
                    #expect(unknownShow.stderr.split(separator: "\n").count == 1)
                    let badLimit = try await encours(["risk", "alerts", "--tenant", "acme", "--limit", "0"])
                    #expect(badLimit.status == 1)
                    #expect(badLimit.stderr.contains("invalid --limit 0"), "\(badLimit.stderr)")
                    let other = try await encours(["risk", "show", "--tenant", "nobody"])
                    #expect(other.status == 1)

                    worker.signal(SIGTERM)
                    #expect(await worker.finish().status == 0)
                }
            }
        }
    }
}
