import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Testing

@Suite("disputes from the command line, with a real worker, SMTP server and webhook receiver")
struct DisputeCLITests {
    static let customers = """
        customer_id,name,email,language
        C1,"Dupont & Fils",compta@dupont.example,fr

        """
    static let invoices = """
        invoice_id,customer_id,issue_date,due_date,amount
        F1,C1,2026-03-01,2026-04-01,1200.00
        F2,C1,2026-03-01,2026-04-01,300.00

        """
    static let policy = """
        {"tiers": [{"name": "account_manager", "sla_days": 5, "notify": "email:am@acme.example"},
                   {"name": "finance_manager", "sla_days": 5, "notify": "email:daf@acme.example"},
                   {"name": "legal", "sla_days": 10, "notify": "webhook"}]}
        """

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test("import, escalate --wait through every tier (email, then signed webhook), breach once, show the history, resolve with a credit note")
    func disputesEndToEnd() async throws {
        let secret = "dispute-hook-secret-0123456789"
        try await TestServers.withSMTPSink(SMTPSinkOptions()) { sink in
            try await TestServers.withWebhookReceiver(secret: secret) { receiver in
                try await TestDatabase.with { database in
                    _ = try await makeTenant(database, "acme")
                    let environment = deliveryEnvironment(database, smtpPort: sink.port)
                    func encours(_ arguments: [String]) async throws -> Binaries.Result {
                        try await Binaries.run("encours", arguments, environment: environment)
                    }
                    for (key, value) in [
                        ("smtp_from", "encours@acme.example"), ("webhook_url", receiver.url()), ("webhook_secret", secret), ("escalation_policy", Self.policy),
                    ] {
                        #expect(try await encours(["tenant", "set", "acme", key, value]).status == 0)
                    }
                    let badPolicy = try await encours(["tenant", "set", "acme", "escalation_policy", #"{"tiers": [{"name": "am", "sla_days": -1}]}"#])
                    #expect(badPolicy.status == 1)
                    #expect(badPolicy.stderr.contains("tier am: sla_days"), "\(badPolicy.stderr)")
                    for (kind, text) in [("customers", Self.customers), ("invoices", Self.invoices)] {
                        #expect(try await encours(["import", kind, "--tenant", "acme", try csvFile("\(kind).csv", text)]).status == 0)
                    }
                    let badReason = try await encours(["import", "disputes", "--tenant", "acme", try csvFile("bad.csv", "dispute_id,invoice_id,reason,opened_on\nD1,F1,cher,2026-04-27\n")])
                    #expect(badReason.status == 1)
                    #expect(badReason.stderr.contains("bad.csv:2: reason: unknown reason: expected one of pricing"), "\(badReason.stderr)")
                    #expect(try await database.integer("SELECT count(*) FROM encours.disputes") == 0)
                    let imported = try await encours(["import", "disputes", "--tenant", "acme", try csvFile("d.csv", "dispute_id,invoice_id,reason,opened_on,amount\nD1,F1,Qualité,2026-04-27,400.00\n")])
                    #expect(imported.status == 0, "\(imported.stderr)")
                    // The imports enqueued risk recalculations at today's date; this test is about disputes.
                    for id in try await database.withConnection({ try $0.query("SELECT id FROM encours.jobs WHERE kind = 'risk.recalc'").rows.map { try $0.decode(0, as: Int64.self) } }) {
                        #expect(try await encours(["jobs", "cancel", String(id)]).status == 0)
                    }

                    let worker = try Binaries.start("encours-worker", ["--concurrency", "4", "--retry-base-seconds", "0.2"], environment: environment)
                    // Tier 1 is due Tue 5 May 2026 (1 May skipped): on 5 May nothing is due.
                    let early = try #require(try json(try await encours(["disputes", "escalate", "--tenant", "acme", "--at", "2026-05-05T18:00", "--wait", "--json"]).stdout) as? [String: Any])
                    #expect(early["state"] as? String == "completed")
                    #expect(early["escalated"] as? Int == 0 && early["escalation_id"] is NSNull)
                    #expect(early["at"] as? String == "2026-05-05T16:00:00Z")
                    // 6 May: tier 2, due Fri 15 May; the finance manager gets an email.
                    let second = try await encours(["disputes", "escalate", "--tenant", "acme", "--at", "2026-05-06T09:00:00+02:00", "--wait"])
                    #expect(second.status == 0)
                    #expect(second.stdout.contains("1 escalated, 0 breached, 1 notification"), "\(second.stdout)")
                    let listed = try #require(try json(try await encours(["disputes", "list", "--tenant", "acme", "--json"]).stdout) as? [[String: Any]])
                    #expect(listed.count == 1)
                    for key in ["id", "invoice_id", "status", "tier", "deadline", "breached", "outcome"] {
                        #expect(listed.first?.keys.contains(key) == true, "disputes list --json has \(key)")
                    }
                    #expect(listed.first?["status"] as? String == "escalated" && listed.first?["tier"] as? Int == 2)
                    #expect(listed.first?["deadline"] as? String == "2026-05-15" && listed.first?["outcome"] is NSNull)
                    // Twice at the same instant: the same job, or nothing to do.
                    let again = try #require(try json(try await encours(["disputes", "escalate", "--tenant", "acme", "--at", "2026-05-06T07:00:00Z", "--wait", "--json"]).stdout) as? [String: Any])
                    #expect(again["escalated"] as? Int == 0)
                    // 18 May: legal (webhook), due Tue 2 June; 3 June: breached; 4 June: nothing.
                    #expect(try await encours(["disputes", "escalate", "--tenant", "acme", "--at", "2026-05-18", "--wait"]).status == 0)
                    let breach = try #require(try json(try await encours(["disputes", "escalate", "--tenant", "acme", "--at", "2026-06-03", "--wait", "--json"]).stdout) as? [String: Any])
                    #expect(breach["breached"] as? Int == 1 && breach["on_date"] as? String == "2026-06-03")
                    #expect(try await encours(["disputes", "escalate", "--tenant", "acme", "--at", "2026-06-04", "--wait"]).stdout.contains("no dispute of acme was due"))

                    let delivered = try await database.waitUntil(timeout: .seconds(60)) { connection in
                        try connection.query("SELECT count(*) FROM encours.notifications WHERE status = 'sent'").decode(Int.self, row: 0, column: 0) == 3
                    }
                    #expect(delivered)
                    let emails = try sink.messages().filter { $0.recipients.contains("daf@acme.example") }
                    #expect(emails.count == 1)
                    #expect(emails.first?.subject == "Litiges : 1 litige escaladé pour finance_manager au 6 mai 2026", "\(emails.map(\.subject))")
                    let text = emails.first?.text ?? ""
                    #expect(text.contains("D1 : facture F1, Dupont & Fils (C1), 400,00\u{00A0}€, motif qualité"), "\(text)")
                    #expect(text.contains("à traiter avant le 15/05/2026"))
                    #expect(try sink.messages().filter { $0.recipients.contains("am@acme.example") }.isEmpty)
                    let hooks = try receiver.deliveries()
                    #expect(hooks.count == 2)
                    let bodies = try hooks.map { try #require(try json(String(decoding: $0.body, as: UTF8.self)) as? [String: Any]) }
                    #expect(bodies.map { $0["event"] as? String } == ["disputes.escalated", "disputes.escalated"])
                    #expect(bodies.map { $0["tier_name"] as? String } == ["legal", "legal"])
                    let entries = bodies.compactMap { ($0["disputes"] as? [[String: Any]])?.first }
                    #expect(entries.map { $0["event"] as? String } == ["dispute.escalated", "dispute.breached"])
                    #expect(entries.map { $0["amount"] as? String } == ["400.00", "400.00"])
                    #expect(entries.first?["deadline"] as? String == "2026-06-02")
                    let notifications = try #require(try json(try await encours(["disputes", "notifications", "--tenant", "acme", "--json"]).stdout) as? [[String: Any]])
                    #expect(notifications.map { $0["status"] as? String } == ["sent", "sent", "sent"])

                    // The history, then a credit note of the disputed 400.00: the invoice owes 800.00.
                    let shown = try await encours(["disputes", "show", "--tenant", "acme", "D1"])
                    #expect(shown.status == 0)
                    for line in ["dispute D1: escalated, tier 3 legal, breached, deadline 2026-06-02", "balance 1200.00", "opened", "breached"] {
                        #expect(shown.stdout.contains(line), "\(shown.stdout)")
                    }
                    let resolved = try #require(try json(try await encours(["disputes", "resolve", "--tenant", "acme", "D1", "--outcome", "credit_note", "--json"]).stdout) as? [String: Any])
                    #expect(resolved["credit_note_id"] as? String == "CN-D1" && resolved["invoice_balance"] as? String == "800.00")
                    let detail = try #require(try json(try await encours(["disputes", "show", "--tenant", "acme", "D1", "--json"]).stdout) as? [String: Any])
                    let events = try #require(detail["events"] as? [[String: Any]])
                    #expect(events.map { $0["kind"] as? String } == ["opened", "escalated", "escalated", "breached", "resolved"])
                    #expect(events.last?["actor"] as? String == "encours disputes resolve")
                    #expect(events.last?["outcome"] as? String == "credit_note" && events.last?["amount"] as? String == "400.00")
                    #expect(detail["invoice_balance"] as? String == "800.00")

                    // Opening from the CLI today; bad input changes nothing and says why on one line.
                    let opened = try #require(try json(try await encours(["disputes", "open", "--tenant", "acme", "--invoice", "F2", "--reason", "non reçu", "--note", "Colis jamais arrivé", "--json"]).stdout) as? [String: Any])
                    #expect(opened["reason"] as? String == "not_received" && opened["tier"] as? Int == 1 && opened["note"] as? String == "Colis jamais arrivé")
                    let disputes = try await database.integer("SELECT count(*) FROM encours.disputes")
                    for (arguments, message) in [
                        (["disputes", "open", "--tenant", "acme", "--invoice", "F2", "--reason", "quality"], "already has an unresolved dispute"),
                        (["disputes", "open", "--tenant", "acme", "--invoice", "F1", "--reason", "late"], "unknown reason \"late\""),
                        (["disputes", "resolve", "--tenant", "acme", "D1", "--outcome", "upheld"], "dispute D1 was already resolved on "),
                        (["disputes", "escalate", "--tenant", "acme", "--at", "2026-02-30"], "invalid --at: invalid instant \"2026-02-30\""),
                        (["disputes", "show", "--tenant", "acme", "D404"], "unknown dispute \"D404\""),
                        (["disputes", "list", "--tenant", "acme", "--status", "closed"], "unknown --status \"closed\""),
                    ] {
                        let refused = try await encours(arguments)
                        #expect(refused.status == 1, "\(arguments)")
                        #expect(refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
                        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
                    }
                    #expect(try await database.integer("SELECT count(*) FROM encours.disputes") == disputes)

                    worker.signal(SIGTERM)
                    #expect(await worker.finish().status == 0)
                }
            }
        }
    }
}
