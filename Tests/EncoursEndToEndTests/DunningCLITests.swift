import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Testing

@Suite("dunning from the command line, with a real worker")
struct DunningCLITests {
    static let customers = """
        customer_id,name,email,language
        L1,"Papeterie Dupont & Fils",,fr
        L2,Smith Stationery Ltd,,en

        """
    static let invoices = """
        invoice_id,customer_id,issue_date,due_date,amount
        F-1,L1,2025-03-01,2025-03-31,1000.00
        F-2,L1,2025-03-15,2025-04-14,250.00
        F-3,L2,2025-03-01,2025-03-31,99.90

        """

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test("policy set validates, dry run prints and records nothing, --wait runs the job, letters reach the outbox, a re-run sends nothing")
    func lettersEndToEnd() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let outbox = FileManager.default.temporaryDirectory.appending(path: "encours-outbox-\(UUID().uuidString.prefix(8))").path
            let environment = ["ENCOURS_DATABASE_URL": database.url, "ENCOURS_OUTBOX_DIR": outbox]
            func encours(_ arguments: [String]) async throws -> Binaries.Result {
                try await Binaries.run("encours", arguments, environment: environment)
            }
            #expect(try await encours(["import", "customers", "--tenant", "acme", try csvFile("c.csv", Self.customers)]).status == 0)
            #expect(try await encours(["import", "invoices", "--tenant", "acme", try csvFile("i.csv", Self.invoices)]).status == 0)

            // A bad policy: one line naming the level and field, exit 1, nothing changed.
            let bad = try csvFile("bad.json", #"{"name": "standard", "levels": [{"level": 1, "days_after_due": 1, "channel": "fax", "template": "friendly"}]}"#)
            let refused = try await encours(["policy", "set", "--tenant", "acme", bad])
            #expect(refused.status == 1)
            #expect(refused.stderr.split(separator: "\n").count == 1)
            #expect(refused.stderr.contains("level 1: channel must be email, webhook or letter"), "\(refused.stderr)")
            let shown = try await encours(["policy", "show", "--tenant", "acme", "--json"])
            #expect(shown.stdout.contains("\"collection_handoff\""), "the standard policy is unchanged: \(shown.stdout)")

            // Rates: the shipped history, extended by an operator.
            #expect(try await encours(["rates", "set", "2025-12-17", "2.00"]).status == 0)
            let rates = try #require(try json(try await encours(["rates", "list", "--json"]).stdout) as? [[String: Any]])
            #expect(rates.contains { $0["effective_on"] as? String == "2025-06-11" && $0["rate"] as? String == "2.15" })
            #expect(rates.last?["effective_on"] as? String == "2025-12-17")
            let badRate = try await encours(["rates", "set", "2025-12-17", "2.005"])
            #expect(badRate.status == 1)
            #expect(badRate.stderr.contains("invalid RATE \"2.005\""), "\(badRate.stderr)")

            // Dry run: the reminders, nothing recorded.
            let dry = try await encours(["dunning", "run", "--tenant", "acme", "--as-of", "2025-04-20", "--dry-run", "--json"])
            #expect(dry.status == 0, "\(dry.stderr)")
            let planned = try #require(try json(dry.stdout) as? [[String: Any]])
            #expect(planned.count == 2)
            #expect(planned.allSatisfy { $0["id"] is NSNull && $0["channel"] as? String == "letter" })
            let dupont = try #require(planned.first { $0["customer_id"] as? String == "L1" })
            #expect(dupont["total_balance"] as? String == "1250.00")
            #expect((dupont["items"] as? [[String: Any]])?.map { $0["invoice_id"] as? String } == ["F-1", "F-2"])
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'dunning.run'") == 0)

            // The real run, through a worker, waited for.
            let worker = try Binaries.start("encours-worker", ["--concurrency", "4"], environment: environment)
            let waited = try await encours(["dunning", "run", "--tenant", "acme", "--as-of", "2025-04-20", "--wait", "--json"])
            #expect(waited.status == 0, "\(waited.stderr)")
            let outcome = try #require(try json(waited.stdout) as? [String: Any])
            #expect(outcome["state"] as? String == "completed")
            #expect(outcome["reminders"] as? Int == 2)
            #expect(outcome["invoices_moved"] as? Int == 3)
            let delivered = try await database.waitUntil(timeout: .seconds(30)) { connection in
                try connection.query("SELECT count(*) FROM encours.reminders WHERE status = 'sent'").decode(Int.self, row: 0, column: 0) == 2
            }
            #expect(delivered, "both letters are written and their reminders marked sent")
            let listed = try #require(try json(try await encours(["reminders", "list", "--tenant", "acme", "--json"]).stdout) as? [[String: Any]])
            #expect(listed.count == 2)
            #expect(listed.allSatisfy { $0["status"] as? String == "sent" && $0["sent_at"] is String })
            let ids = listed.compactMap { $0["id"] as? Int }
            for id in ids {
                let letter = try String(contentsOfFile: "\(outbox)/acme/reminder-\(id).html", encoding: .utf8)
                #expect(letter.contains("<!DOCTYPE html>") || letter.contains("<!doctype html>"))
            }
            let frenchLetter = try String(
                contentsOfFile: "\(outbox)/acme/reminder-\(try #require(listed.first { $0["customer_id"] as? String == "L1" }?["id"] as? Int)).html",
                encoding: .utf8)
            #expect(frenchLetter.contains("F-1") && frenchLetter.contains("F-2"))
            #expect(frenchLetter.contains("Papeterie Dupont &amp; Fils"))

            // The same date again: the job completes and records nothing.
            let again = try #require(try json(try await encours(["dunning", "run", "--tenant", "acme", "--as-of", "2025-04-20", "--wait", "--json"]).stdout) as? [String: Any])
            #expect(again["state"] as? String == "completed")
            #expect(again["reminders"] as? Int == 0)
            #expect(try await database.integer("SELECT count(*) FROM encours.reminders") == 2)

            // Bad input for the run itself.
            let badDate = try await encours(["dunning", "run", "--tenant", "acme", "--as-of", "2025-02-30"])
            #expect(badDate.status == 1)
            #expect(badDate.stderr.contains("invalid --as-of \"2025-02-30\": no such date"), "\(badDate.stderr)")
            let badStatus = try await encours(["reminders", "list", "--tenant", "acme", "--status", "lost"])
            #expect(badStatus.status == 1)
            #expect(badStatus.stderr.contains("expected pending, sent or failed"))
            worker.signal(SIGTERM)
            let finished = await worker.finish()
            #expect(finished.status == 0, "\(finished.stderr.prefix(6000))")
        }
    }
}

@Suite("reminder delivery by a real worker to a real SMTP server and HTTP receiver")
struct ReminderDeliveryTests {
    @Test("email through an SMTP outage ends sent with its Message-ID, a 550 ends failed without retrying, a webhook arrives signed")
    func emailAndWebhook() async throws {
        let secret = "hook-secret-0123456789"
        try await TestServers.withSMTPSink(SMTPSinkOptions(refusedRecipients: ["gone@customer.example"], failFirst: 2)) { sink in
            try await TestServers.withWebhookReceiver(secret: secret) { receiver in
                try await TestDatabase.with { database in
                    _ = try await makeTenant(database, "acme")
                    let environment = deliveryEnvironment(database, smtpPort: sink.port)
                    func encours(_ arguments: [String]) async throws -> Binaries.Result {
                        try await Binaries.run("encours", arguments, environment: environment)
                    }
                    for (key, value) in [("smtp_from", "relances@acme.example"), ("webhook_url", receiver.url()), ("webhook_secret", secret)] {
                        #expect(try await encours(["tenant", "set", "acme", key, value]).status == 0)
                    }
                    let hooks = try csvFile("hooks.json", #"{"name": "hooks", "levels": [{"level": 1, "days_after_due": 1, "channel": "webhook", "template": "collection_handoff"}]}"#)
                    #expect(try await encours(["policy", "set", "--tenant", "acme", hooks]).status == 0)
                    let customers = """
                        customer_id,name,email,language,policy
                        E1,Dupont & Fils,compta@dupont.example,fr,
                        E2,Gone Ltd,gone@customer.example,en,
                        W1,Hook GmbH,hook@example.com,en,hooks

                        """
                    let invoices = """
                        invoice_id,customer_id,issue_date,due_date,amount
                        A-1,E1,2025-03-01,2025-03-31,1234.56
                        B-1,E2,2025-03-01,2025-03-31,500.00
                        C-1,W1,2025-03-01,2025-03-31,750.00

                        """
                    #expect(try await encours(["import", "customers", "--tenant", "acme", try csvFile("c.csv", customers)]).status == 0)
                    #expect(try await encours(["import", "invoices", "--tenant", "acme", try csvFile("i.csv", invoices)]).status == 0)
                    let worker = try Binaries.start("encours-worker", ["--concurrency", "4", "--retry-base-seconds", "0.2"], environment: environment)
                    let run = try await encours(["dunning", "run", "--tenant", "acme", "--as-of", "2025-04-05", "--wait"])
                    #expect(run.status == 0, "\(run.stderr)")
                    #expect(run.stdout.contains("3 reminders"), "\(run.stdout)")
                    let settled = try await database.waitUntil(timeout: .seconds(60)) { connection in
                        try connection.query("SELECT count(*) FROM encours.reminders WHERE status = 'pending'").decode(Int.self, row: 0, column: 0) == 0
                    }
                    #expect(settled, "every reminder sent or failed")
                    let listed = try #require(try JSONSerialization.jsonObject(with: Data(try await encours(["reminders", "list", "--tenant", "acme", "--json"]).stdout.utf8)) as? [[String: Any]])
                    func reminder(_ customer: String) -> [String: Any]? { listed.first { $0["customer_id"] as? String == customer } }
                    #expect(reminder("E1")?["status"] as? String == "sent")
                    #expect(reminder("W1")?["status"] as? String == "sent")
                    #expect(reminder("E2")?["status"] as? String == "failed")
                    #expect((reminder("E2")?["failure_reason"] as? String)?.contains("550") == true, "\(reminder("E2") ?? [:])")
                    // The refused recipient was tried once: a permanent failure is not retried.
                    let refusedAttempts = try await database.integer(
                        "SELECT delivery_attempts FROM encours.reminders WHERE customer_id = 'E2'")
                    #expect(refusedAttempts == 1)

                    // The email: through two temporary failures, once, with the reminder's Message-ID and both parts.
                    let id = try #require(reminder("E1")?["id"] as? Int)
                    let messages = try sink.messages().filter { $0.recipients.contains("compta@dupont.example") }
                    #expect(messages.count == 1)
                    let message = try #require(messages.first)
                    #expect(message.messageID == "<reminder-\(id).acme@acme.example>")
                    #expect(message.text?.contains("1\u{00A0}234,56\u{00A0}€") == true, "\(message.text ?? "")")
                    #expect(message.html?.contains("A-1") == true)
                    #expect(message.defects.isEmpty)

                    // The webhook: verified by the receiver (it refuses bad signatures), with the reminder in it.
                    let deliveries = try receiver.deliveries()
                    #expect(deliveries.count == 1)
                    let delivery = try #require(deliveries.first)
                    let hookID = try #require(reminder("W1")?["id"] as? Int)
                    #expect(delivery.deliveryID == "reminder-acme-\(hookID)")
                    let body = try #require(try JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])
                    #expect((body["reminder"] as? [String: Any])?["total_balance"] as? String == "750.00")
                    #expect((body["customer"] as? [String: Any])?["name"] as? String == "Hook GmbH")
                    worker.signal(SIGTERM)
                    #expect(await worker.finish().status == 0)
                }
            }
        }
    }
}

@Suite("reminders delivered in batches")
struct DeliveryBatchTests {
    @Test("25 email reminders in two batch jobs: a 550 fails alone, the 4 refused for now are retried alone, each Message-ID arrives once")
    func partialBatches() async throws {
        try await TestServers.withSMTPSink(SMTPSinkOptions(refusedRecipients: ["c7@customer.example"], failFirst: 4)) { sink in
            try await TestDatabase.with { database in
                _ = try await makeTenant(database, "acme")
                let environment = deliveryEnvironment(database, smtpPort: sink.port)
                func encours(_ arguments: [String]) async throws -> Binaries.Result {
                    try await Binaries.run("encours", arguments, environment: environment)
                }
                #expect(try await encours(["tenant", "set", "acme", "smtp_from", "relances@acme.example"]).status == 0)
                let customers = "customer_id,name,email,language\n" + (1...25).map { "C\($0),Client \($0),c\($0)@customer.example,fr\n" }.joined()
                let invoices = "invoice_id,customer_id,issue_date,due_date,amount\n" + (1...25).map { "F-\($0),C\($0),2025-03-01,2025-03-31,\(100 + $0).00\n" }.joined()
                #expect(try await encours(["import", "customers", "--tenant", "acme", try csvFile("c.csv", customers)]).status == 0)
                #expect(try await encours(["import", "invoices", "--tenant", "acme", try csvFile("i.csv", invoices)]).status == 0)
                // Recorded first, delivered afterwards: the run's jobs are there to look at before any worker takes them.
                #expect(try await encours(["dunning", "run", "--tenant", "acme", "--as-of", "2025-04-05"]).status == 0)
                let worker = try Binaries.start(
                    "encours-worker", ["--kinds", "dunning.run", "--drain"], environment: environment)
                #expect(await worker.finish().status == 0)
                let batches = try await database.withConnection { connection in
                    try connection.query(
                        "SELECT jsonb_array_length(payload->'reminder_ids') FROM encours.jobs WHERE kind = 'reminder.deliver' ORDER BY id"
                    ).rows.map { try $0.decode(0, as: Int.self) }
                }
                #expect(batches == [20, 5])

                let deliverer = try Binaries.start(
                    "encours-worker", ["--kinds", "reminder.deliver", "--concurrency", "1", "--retry-base-seconds", "0.2", "--drain"], environment: environment)
                #expect(await deliverer.finish().status == 0)
                let statuses = try await database.withConnection { connection in
                    try connection.query(
                        "SELECT status, count(*), sum(delivery_attempts) FROM encours.reminders GROUP BY status ORDER BY status"
                    ).rows.map { "\(try $0.decode(0, as: String.self)) \(try $0.decode(1, as: Int.self)) \(try $0.decode(2, as: Int.self))" }
                }
                // 24 sent with 4 second attempts; the refused recipient tried once, failed with the 550.
                #expect(statuses == ["failed 1 1", "sent 24 28"])
                #expect(try await database.integer(
                    "SELECT count(*) FROM encours.reminders WHERE status = 'failed' AND recipient = 'c7@customer.example' AND failure_reason LIKE '%550%'") == 1)
                // One job at a time: the first batch met the 4 refusals, was retried, and completed.
                #expect(try await database.integer(
                    "SELECT count(*) FROM encours.jobs WHERE kind = 'reminder.deliver' AND state = 'completed'") == 2)
                #expect(try await database.integer(
                    "SELECT count(*) FROM encours.jobs WHERE kind = 'reminder.deliver' AND attempt > 1") == 1)
                let messageIDs = try sink.messages().compactMap(\.messageID)
                #expect(messageIDs.count == 24)
                #expect(Set(messageIDs).count == 24, "no reminder sent twice")
                let expected = try await database.withConnection { connection in
                    try connection.query("SELECT reminder_id FROM encours.reminders WHERE status = 'sent'").rows.map {
                        "<reminder-\(try $0.decode(0, as: Int64.self)).acme@acme.example>"
                    }
                }
                #expect(Set(messageIDs) == Set(expected))
            }
        }
    }
}

@Suite("reminder delivery through an SMTP outage")
struct SMTPOutageTests {
    @Test("nothing listens on the SMTP port while reminders are delivered: they retry with backoff, then all end sent once the server is back")
    func outage() async throws {
        let port = try await TestServers.closedPort()
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url, "ENCOURS_SMTP_URL": "smtp://127.0.0.1:\(port)"]
            func encours(_ arguments: [String]) async throws -> Binaries.Result {
                try await Binaries.run("encours", arguments, environment: environment)
            }
            #expect(try await encours(["tenant", "set", "acme", "smtp_from", "relances@acme.example"]).status == 0)
            var customers = "customer_id,name,email,language\n"
            var invoices = "invoice_id,customer_id,issue_date,due_date,amount\n"
            for index in 0..<12 {
                customers += "C\(index),Client \(index),client\(index)@example.com,\(index % 2 == 0 ? "fr" : "en")\n"
                invoices += "F\(index),C\(index),2025-03-01,2025-03-31,\(100 + index).00\n"
            }
            #expect(try await encours(["import", "customers", "--tenant", "acme", try csvFile("c.csv", customers)]).status == 0)
            #expect(try await encours(["import", "invoices", "--tenant", "acme", try csvFile("i.csv", invoices)]).status == 0)
            let worker = try Binaries.start("encours-worker", ["--concurrency", "8", "--retry-base-seconds", "0.3"], environment: environment)
            #expect(try await encours(["dunning", "run", "--tenant", "acme", "--as-of", "2025-04-05", "--wait"]).status == 0)
            // The server is down: every reminder fails at least once and stays pending.
            let failing = try await database.waitUntil(timeout: .seconds(30)) { connection in
                try connection.query("SELECT count(*) FROM encours.reminders WHERE status = 'pending' AND delivery_attempts >= 1")
                    .decode(Int.self, row: 0, column: 0) == 12
            }
            #expect(failing)
            #expect(try await database.integer("SELECT count(*) FROM encours.reminders WHERE status <> 'pending'") == 0)
            // The server comes back on the same port.
            try await TestServers.withSMTPSink(SMTPSinkOptions(port: port)) { sink in
                let sent = try await database.waitUntil(timeout: .seconds(60)) { connection in
                    try connection.query("SELECT count(*) FROM encours.reminders WHERE status = 'sent'").decode(Int.self, row: 0, column: 0) == 12
                }
                if !sent {
                    let rows = try await database.withConnection { connection in
                        try connection.query("SELECT reminder_id, status, delivery_attempts, coalesce(failure_reason, '') FROM encours.reminders ORDER BY 1").rows.map { "\($0[0] ?? "") \($0[1] ?? "") \($0[2] ?? "") \($0[3] ?? "")" }
                    }
                    let jobs = try await database.withConnection { connection in
                        try connection.query("SELECT id, state::text, attempt, run_at::text, errors::text FROM encours.jobs WHERE kind = 'reminder.deliver' ORDER BY 1").rows.map { "\($0[0] ?? "") \($0[1] ?? "") \($0[2] ?? "") \($0[3] ?? "") \(($0[4] ?? "").suffix(300))" }
                    }
                    Issue.record("reminders: \(rows)\njobs: \(jobs)")
                }
                #expect(sent, "every reminder sent once the server is back")
                let received = try sink.messages()
                if received.count != 12 {
                    let rows = try await database.withConnection { connection in
                        try connection.query("SELECT reminder_id, status, delivery_attempts, sent_at::text FROM encours.reminders ORDER BY 1").rows.map { "\($0[0] ?? "") \($0[1] ?? "") \($0[2] ?? "") \($0[3] ?? "")" }
                    }
                    Issue.record("received \(received.compactMap(\.messageID).sorted()); connections \(sink.connectionCount()); reminders \(rows)")
                }
                #expect(received.count == 12)
                #expect(Set(received.compactMap(\.messageID)).count == 12, "each reminder once")
            }
            worker.signal(SIGTERM)
            let finished = await worker.finish()
            #expect(finished.status == 0, "\(finished.stderr.prefix(6000))")
        }
    }
}
