import EncoursJobs
import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// Runs a handler, but the first time lets another worker take the job's lease just before the
/// handler's transaction: what a paused or partitioned worker sees when it wakes up.
final class LeaseStealingHandler: JobHandler {
    let kind: String
    let handler: any JobHandler
    let url: String
    let stolen = Mutex(0)
    /// Attempts that have returned or thrown.
    let finished = Mutex(0)
    init(_ handler: any JobHandler, url: String) {
        self.handler = handler
        self.kind = handler.kind
        self.url = url
    }

    func handle(_ context: JobContext) async throws {
        if stolen.withLock({ value in defer { value += 1 }; return value == 0 }) {
            let id = context.job.id
            try await PostgresSession.once(connectionString: url, name: "thief") { connection in
                _ = try connection.query(
                    "UPDATE encours.jobs SET worker_id = 'another-worker', lease_expires_at = now() + interval '1 hour' WHERE id = $1", [id])
            }
        }
        defer { finished.withLock { $0 += 1 } }
        try await handler.handle(context)
    }
}

@Suite("dunning.run as a job")
struct DunningJobTests {
    func configuration() -> WorkerConfiguration { Self.drainingConfiguration() }

    /// A small draining worker with short leases, polls and retries, for the handlers' job tests.
    static func drainingConfiguration() -> WorkerConfiguration {
        WorkerConfiguration(
            concurrency: 2, lease: .seconds(30), pollInterval: .milliseconds(50), drain: true,
            retryPolicy: RetryPolicy(base: .milliseconds(20), maximum: .milliseconds(100)), promotionInterval: .milliseconds(50))
    }

    @Test("a run that lost its lease records nothing; its retry records every reminder and delivery job once")
    func fencedRun() async throws {
        try await TestDatabase.with { database in
            let tenant = try await TestTenants.make(database, "acme")
            try await database.withConnection { connection in
                try connection.execute("BEGIN")
                for index in 0..<20 {
                    _ = try connection.query(
                        "INSERT INTO encours.customers (tenant_id, customer_id, name, email) VALUES ($1, $2, $3, $4)",
                        [tenant, "C\(index)", "Customer \(index)", "c\(index)@example.com"])
                    _ = try connection.query(
                        """
                        INSERT INTO encours.invoices (tenant_id, invoice_id, customer_id, issue_date, due_date, amount_cents, currency)
                        VALUES ($1, $2, $3, '2025-03-01', '2025-03-31', 10000, 'EUR')
                        """, [tenant, "F\(index)", "C\(index)"])
                }
                try connection.execute("COMMIT")
            }
            let id = try #require(try await database.withConnection { connection in
                try JobQueue.enqueue([NewJob(tenantID: tenant, kind: "dunning.run", payload: DunningRunHandler.payload(asOf: try .init(parsing: "2025-04-10")))], on: connection).insertedIDs.first
            })
            let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            let stealing = LeaseStealingHandler(DunningRunHandler(), url: database.url)
            // The first worker's run finds its lease gone: nothing is written, and its result is dropped.
            var first = configuration()
            first.drain = false
            let firstWorker = QueueWorker(connectionString: database.url, configuration: first, handlers: [stealing], logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await firstWorker.run() }
                let stolen = try await database.waitUntil { connection in
                    try connection.query("SELECT worker_id FROM encours.jobs WHERE id = $1", [id]).first?["worker_id"] == "another-worker"
                }
                #expect(stolen)
                // The attempt ends (its fenced transaction refused) before the worker stops.
                let ended = try await database.waitUntil(timeout: .seconds(10)) { _ in stealing.finished.withLock { $0 } > 0 }
                #expect(ended)
                group.cancelAll()
            }
            #expect(try await database.integer("SELECT count(*) FROM encours.reminders") == 0)
            #expect(try await database.integer("SELECT count(*) FROM encours.invoice_dunning") == 0)
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'reminder.deliver'") == 0)
            #expect(try await database.integer("SELECT count(*) FROM encours.dunning_runs") == 0)

            #expect(try await fetchState(database, id) == .running, "still the other worker's")
            // The other worker "died": its lease lapsed. A draining worker rescues the job and runs it.
            try await database.withConnection { connection in
                _ = try connection.query("UPDATE encours.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [id])
            }
            let second = QueueWorker(connectionString: database.url, configuration: configuration(), handlers: [DunningRunHandler()], logger: quiet)
            try await second.run()
            #expect(try await fetchState(database, id) == .completed)
            #expect(try await database.integer("SELECT count(*) FROM encours.reminders") == 20)
            #expect(try await database.integer("SELECT count(*) FROM encours.invoice_dunning WHERE level = 1") == 20)
            // Each reminder is named by exactly one delivery job (batches of 20 of one channel).
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'reminder.deliver'") == 1)
            let named = """
                SELECT count(*) FROM encours.jobs j CROSS JOIN LATERAL jsonb_array_elements_text(j.payload->'reminder_ids') AS e (id)
                WHERE j.kind = 'reminder.deliver'
                """
            #expect(try await database.integer(named) == 20)
            #expect(try await database.integer(named.replacingOccurrences(of: "count(*)", with: "count(DISTINCT e.id)")) == 20)
            #expect(try await database.integer(
                "SELECT count(*) FROM encours.reminders r WHERE NOT EXISTS (\(named.replacingOccurrences(of: "SELECT count(*)", with: "SELECT 1")) AND e.id::bigint = r.reminder_id)") == 0)
            #expect(try await database.integer("SELECT count(*) FROM encours.dunning_runs WHERE job_id = $1", [id]) == 1)
        }
    }

    func fetchState(_ database: TestDatabase, _ id: Int64) async throws -> JobState? {
        try await database.withConnection { try JobQueue.job(id: id, on: $0)?.state }
    }
}
