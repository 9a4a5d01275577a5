import EncoursJobs
import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Logging
import Testing

@Suite("Job handlers")
struct JobsTests {
    @Test("the catalog lists the SPEC's kinds and refuses others by name")
    func catalog() throws {
        #expect(JobCatalog.kinds == ["dunning.run", "reminder.deliver", "risk.recalc", "disputes.escalate", "noop"])
        try JobCatalog.validate(kind: "noop")
        do {
            try JobCatalog.validate(kind: "dunning")
            Issue.record("unknown kind accepted")
        } catch {
            #expect(error.code == .unknownKind)
            #expect(error.message.contains("\"dunning\""))
        }
        #expect(try JobCatalog.handlers().map(\.kind) == ["noop", "dunning.run", "risk.recalc", "disputes.escalate", "reminder.deliver"])
    }

    @Test("noop completes at once, waits cancellably with sleep_ms, and fails with fail")
    func noop() async throws {
        try await TestDatabase.with { database in
            let tenant = try await TestTenants.make(database, "acme")
            let ids = try await database.withConnection { connection in
                try JobQueue.enqueue([
                    NewJob(tenantID: tenant, kind: "noop"),
                    NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": 50}"#),
                    NewJob(tenantID: tenant, kind: "noop", payload: #"{"fail": "as asked"}"#, maxAttempts: 1),
                    NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": "soon"}"#, maxAttempts: 1),
                ], on: connection).insertedIDs.sorted()
            }
            let worker = QueueWorker(
                connectionString: database.url,
                configuration: WorkerConfiguration(concurrency: 4, lease: .seconds(30), pollInterval: .milliseconds(50), drain: true),
                handlers: try JobCatalog.handlers(), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            try await worker.run()
            let states = try await database.withConnection { connection in
                try ids.map { try JobQueue.job(id: $0, on: connection)! }
            }
            #expect(states.map(\.state) == [.completed, .completed, .discarded, .discarded])
            #expect(states[2].errors.last?.error == "as asked")
            #expect(states[3].errors.last?.error.contains("sleep_ms must be a whole number") == true, "\(states[3].errors)")
        }
    }

    @Test("risk.recalc refuses a bad payload by name, scores the job's own tenant only, and never another tenant's customer")
    func riskPayloads() async throws {
        try await TestDatabase.with { database in
            let acme = try await TestTenants.make(database, "acme")
            let other = try await TestTenants.make(database, "other")
            try await database.withConnection { connection in
                _ = try connection.query(
                    "INSERT INTO encours.customers (tenant_id, customer_id, name) VALUES ($1, 'C1', 'Acme client'), ($2, 'O1', 'Other client')",
                    [acme, other])
            }
            let many = "[" + (0...1000).map { "\"C\($0)\"" }.joined(separator: ",") + "]"
            let ids = try await database.withConnection { connection in
                try JobQueue.enqueue([
                    NewJob(tenantID: acme, kind: "risk.recalc", payload: #"{"as_of": "2026-02-30"}"#, maxAttempts: 1),
                    NewJob(tenantID: acme, kind: "risk.recalc", payload: #"{"customer_ids": "C1"}"#, maxAttempts: 1),
                    NewJob(tenantID: acme, kind: "risk.recalc", payload: "{\"customer_ids\": \(many)}", maxAttempts: 1),
                    NewJob(tenantID: acme, kind: "risk.recalc", payload: #"{"customer_id": "O1"}"#, maxAttempts: 1),
                    NewJob(tenantID: acme, kind: "risk.recalc", payload: #"{"as_of": "2026-06-30", "customer_ids": ["C1"]}"#, maxAttempts: 1),
                ], on: connection).insertedIDs.sorted()
            }
            let worker = QueueWorker(
                connectionString: database.url,
                configuration: WorkerConfiguration(concurrency: 2, lease: .seconds(30), pollInterval: .milliseconds(50), drain: true),
                handlers: try JobCatalog.handlers(), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            try await worker.run()
            let jobs = try await database.withConnection { connection in
                try ids.map { try JobQueue.job(id: $0, on: connection)! }
            }
            #expect(jobs.map(\.state) == [.discarded, .discarded, .discarded, .discarded, .completed])
            #expect(jobs[0].errors.last?.error.contains("as_of \"2026-02-30\" is not a date") == true, "\(jobs[0].errors)")
            #expect(jobs[1].errors.last?.error.contains("customer_ids must be an array") == true, "\(jobs[1].errors)")
            #expect(jobs[2].errors.last?.error.contains("names 1001 customers (at most 1000)") == true, "\(jobs[2].errors)")
            #expect(jobs[3].errors.last?.error.contains("unknown customer \"O1\"") == true, "\(jobs[3].errors)")
            let scored = try await database.integer("SELECT count(*) FROM encours.risk_scores")
            #expect(scored == 1)
            #expect(try await database.integer("SELECT count(*) FROM encours.risk_scores WHERE tenant_id = $1 AND customer_id = 'C1'", [acme]) == 1)
        }
    }

    @Test("reminder.deliver refuses a bad batch by name, delivers the job's own tenant's reminders only, and still takes one reminder_id")
    func deliveryPayloads() async throws {
        try await TestDatabase.with { database in
            let acme = try await TestTenants.make(database, "acme")
            let other = try await TestTenants.make(database, "other")
            // Letters (no transport needed): two for acme, one for the other tenant.
            let reminders = try await database.withConnection { connection in
                try [acme, acme, other].map { tenant in
                    let run = try connection.query(
                        "INSERT INTO encours.dunning_runs (tenant_id, as_of, reminders, invoices_moved) VALUES ($1, '2026-01-10', 1, 0) RETURNING run_id",
                        [tenant]).decode(Int64.self, row: 0, column: 0)
                    _ = try connection.query(
                        "INSERT INTO encours.customers (tenant_id, customer_id, name) VALUES ($1, 'C' || $2::text, 'Client') ON CONFLICT DO NOTHING",
                        [tenant, run])
                    return try connection.query(
                        """
                        INSERT INTO encours.reminders (tenant_id, run_id, customer_id, currency, as_of, level, policy, template, channel,
                                                       language, charge_penalties, total_balance_cents)
                        VALUES ($1, $2::bigint, 'C' || $2::text, 'EUR', '2026-01-10', 1, 'standard', 'friendly', 'letter', 'fr', false, 12345)
                        RETURNING reminder_id
                        """, [tenant, run]).decode(Int64.self, row: 0, column: 0)
                }
            }
            let many = "[" + (1...1001).map(String.init).joined(separator: ",") + "]"
            let ids = try await database.withConnection { connection in
                try JobQueue.enqueue([
                    NewJob(tenantID: acme, kind: "reminder.deliver", payload: #"{"reminder_ids": []}"#, maxAttempts: 1),
                    NewJob(tenantID: acme, kind: "reminder.deliver", payload: #"{"reminder_ids": [1, "two"]}"#, maxAttempts: 1),
                    NewJob(tenantID: acme, kind: "reminder.deliver", payload: "{\"reminder_ids\": \(many)}", maxAttempts: 1),
                    NewJob(tenantID: acme, kind: "reminder.deliver", payload: "{\"reminder_ids\": [\(reminders[0]), \(reminders[2])]}", maxAttempts: 1),
                    NewJob(tenantID: acme, kind: "reminder.deliver", payload: "{\"reminder_id\": \(reminders[1])}", maxAttempts: 1),
                ], on: connection).insertedIDs.sorted()
            }
            let outbox = FileManager.default.temporaryDirectory.appending(path: "outbox-\(UUID().uuidString.prefix(8))").path
            let worker = QueueWorker(
                connectionString: database.url,
                configuration: WorkerConfiguration(concurrency: 2, lease: .seconds(30), pollInterval: .milliseconds(50), drain: true),
                handlers: try JobCatalog.handlers(delivery: DeliveryConfiguration(outboxDirectory: outbox)),
                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            try await worker.run()
            let jobs = try await database.withConnection { connection in
                try ids.map { try JobQueue.job(id: $0, on: connection)! }
            }
            #expect(jobs.map(\.state) == [.discarded, .discarded, .discarded, .completed, .completed])
            #expect(jobs[0].errors.last?.error.contains("reminder_ids names 0 reminders; 1 to 1000 are accepted") == true, "\(jobs[0].errors)")
            #expect(jobs[1].errors.last?.error.contains("reminder_ids must be an array of whole numbers") == true, "\(jobs[1].errors)")
            #expect(jobs[2].errors.last?.error.contains("reminder_ids names 1001 reminders") == true, "\(jobs[2].errors)")
            let statuses = try await database.withConnection { connection in
                try reminders.map { try connection.query("SELECT status FROM encours.reminders WHERE reminder_id = $1", [$0]).decode(String.self, row: 0, column: 0) }
            }
            // The other tenant's reminder is invisible in acme's scope: it stays pending, and no letter is written for it.
            #expect(statuses == ["sent", "sent", "pending"])
            let letters = try FileManager.default.contentsOfDirectory(atPath: outbox + "/acme").sorted()
            #expect(letters == ["reminder-\(reminders[0]).html", "reminder-\(reminders[1]).html"].sorted())
            #expect(!FileManager.default.fileExists(atPath: outbox + "/other"))
        }
    }
}
