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
                configuration: WorkerConfiguration(concurrency: 4, lease: .seconds(5), pollInterval: .milliseconds(50), drain: true),
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
                configuration: WorkerConfiguration(concurrency: 2, lease: .seconds(5), pollInterval: .milliseconds(50), drain: true),
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
}
