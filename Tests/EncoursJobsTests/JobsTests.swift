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
        #expect(try JobCatalog.handlers().map(\.kind) == ["noop", "dunning.run", "risk.recalc", "reminder.deliver"])
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
}
