import EncoursJobs
import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Logging
import Testing

@Suite("disputes.escalate as a job")
struct DisputesEscalateJobTests {
    func configuration() -> WorkerConfiguration { DunningJobTests.drainingConfiguration() }

    @Test("an escalation that lost its lease records nothing; its retry moves every dispute once, with one notification and its delivery job")
    func fencedEscalation() async throws {
        try await TestDatabase.with { database in
            let tenant = try await TestTenants.make(database, "acme")
            try await database.withConnection { connection in
                try connection.execute("BEGIN")
                _ = try connection.query(
                    "UPDATE encours.tenants SET settings = settings || jsonb_build_object('escalation_policy', $2::jsonb) WHERE id = $1",
                    [tenant, #"{"tiers": [{"name": "am", "sla_days": 5}, {"name": "daf", "sla_days": 5, "notify": "email:daf@acme.example"}]}"#])
                _ = try connection.query("INSERT INTO encours.customers (tenant_id, customer_id, name) VALUES ($1, 'C1', 'Dupont')", [tenant])
                for index in 0..<30 {
                    _ = try connection.query(
                        """
                        INSERT INTO encours.invoices (tenant_id, invoice_id, customer_id, issue_date, due_date, amount_cents, currency)
                        VALUES ($1, $2, 'C1', '2026-03-01', '2026-03-31', 10000, 'EUR')
                        """, [tenant, "F\(index)"])
                    _ = try connection.query(
                        """
                        INSERT INTO encours.disputes (tenant_id, dispute_id, invoice_id, reason, opened_on, deadline)
                        VALUES ($1, $2, $3, 'quality', '2026-04-27', '2026-05-05')
                        """, [tenant, "D\(index)", "F\(index)"])
                }
                try connection.execute("COMMIT")
            }
            let id = try #require(try await database.withConnection { connection in
                try JobQueue.enqueue(
                    [NewJob(tenantID: tenant, kind: "disputes.escalate", payload: DisputesEscalateHandler.payload(at: "2026-05-06T08:00:00Z"))],
                    on: connection
                ).insertedIDs.first
            })
            let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            let stealing = LeaseStealingHandler(DisputesEscalateHandler(), url: database.url)
            var first = configuration()
            first.drain = false
            let firstWorker = QueueWorker(connectionString: database.url, configuration: first, handlers: [stealing], logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await firstWorker.run() }
                let ended = try await database.waitUntil(timeout: .seconds(20)) { _ in stealing.finished.withLock { $0 } > 0 }
                #expect(ended)
                group.cancelAll()
            }
            #expect(try await database.integer("SELECT count(*) FROM encours.disputes WHERE tier = 1") == 30)
            #expect(try await database.integer("SELECT count(*) FROM encours.dispute_events") == 0)
            #expect(try await database.integer("SELECT count(*) FROM encours.dispute_escalations") == 0)
            #expect(try await database.integer("SELECT count(*) FROM encours.notifications") == 0)
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'reminder.deliver'") == 0)

            try await database.withConnection { connection in
                _ = try connection.query("UPDATE encours.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [id])
            }
            let second = QueueWorker(connectionString: database.url, configuration: configuration(), handlers: [DisputesEscalateHandler()], logger: quiet)
            try await second.run()
            #expect(try await database.withConnection { try JobQueue.job(id: id, on: $0)?.state } == .completed)
            // 6 May + 5 business days, skipping 8 May and Ascension (14 May): Fri 15 May.
            #expect(try await database.integer("SELECT count(*) FROM encours.disputes WHERE tier = 2 AND status = 'escalated' AND deadline = '2026-05-15'") == 30)
            #expect(try await database.integer("SELECT count(*) FROM encours.dispute_events WHERE kind = 'escalated' AND actor = $1", ["job \(id) (disputes.escalate)"]) == 30)
            #expect(try await database.integer("SELECT count(*) FROM encours.dispute_escalations WHERE job_id = $1 AND escalated = 30", [id]) == 1)
            #expect(try await database.integer("SELECT count(*) FROM encours.notifications WHERE recipient = 'daf@acme.example' AND status = 'pending'") == 1)
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'reminder.deliver'") == 1)
        }
    }

    @Test("a payload whose at is not an instant is discarded naming it; without at, the job escalates at its scheduled time")
    func payload() async throws {
        try await TestDatabase.with { database in
            let tenant = try await TestTenants.make(database, "acme")
            try await database.withConnection { connection in
                _ = try connection.query("INSERT INTO encours.customers (tenant_id, customer_id, name) VALUES ($1, 'C1', 'Dupont')", [tenant])
                _ = try connection.query(
                    """
                    INSERT INTO encours.invoices (tenant_id, invoice_id, customer_id, issue_date, due_date, amount_cents, currency)
                    VALUES ($1, 'F1', 'C1', '2026-03-01', '2026-03-31', 10000, 'EUR')
                    """, [tenant])
                _ = try connection.query(
                    """
                    INSERT INTO encours.disputes (tenant_id, dispute_id, invoice_id, reason, opened_on, deadline)
                    VALUES ($1, 'D1', 'F1', 'quality', '2026-04-27', '2026-05-05')
                    """, [tenant])
            }
            let ids = try await database.withConnection { connection in
                try JobQueue.enqueue(
                    [
                        NewJob(tenantID: tenant, kind: "disputes.escalate", payload: #"{"at": "yesterday"}"#, maxAttempts: 1),
                        NewJob(tenantID: tenant, kind: "disputes.escalate", runAt: Date(timeIntervalSince1970: 1_778_054_400)),
                    ], on: connection
                ).insertedIDs
            }
            let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            try await QueueWorker(connectionString: database.url, configuration: configuration(), handlers: [DisputesEscalateHandler()], logger: quiet).run()
            let bad = try #require(try await database.withConnection { try JobQueue.job(id: ids[0], on: $0) })
            #expect(bad.state == .discarded)
            #expect(bad.errors.last?.error.contains("at: invalid instant \"yesterday\"") == true, "\(bad.errors)")
            #expect(try await database.integer(
                "SELECT count(*) FROM encours.dispute_escalations WHERE job_id = $1 AND at = '2026-05-06T08:00:00Z' AND on_date = '2026-05-06'", [ids[1]]) == 1)
        }
    }
}
