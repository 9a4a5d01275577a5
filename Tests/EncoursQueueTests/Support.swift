import EncoursAdmin
import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Logging
import Synchronization
import Testing

let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// Creates a tenant and returns its id.
func makeTenant(_ database: TestDatabase, _ slug: String, maxConcurrentJobs: Int? = nil) async throws -> Int64 {
    try await database.withConnection { connection in
        let tenant = try TenantStore.create(slug: slug, name: slug.capitalized, on: connection)
        if let maxConcurrentJobs {
            _ = try TenantStore.set(slug: slug, key: "max_concurrent_jobs", value: String(maxConcurrentJobs), on: connection)
        }
        return tenant.id
    }
}

/// A quick configuration for tests: short lease, fast retries and polling.
func testConfiguration(
    concurrency: Int = 8, lease: Duration = .seconds(5), listen: Bool = true, poll: Duration = .milliseconds(100),
    drain: Bool = false
) -> WorkerConfiguration {
    WorkerConfiguration(
        concurrency: concurrency, lease: lease, pollInterval: poll, listen: listen, drain: drain,
        retryPolicy: RetryPolicy(base: .milliseconds(20), maximum: .milliseconds(200)),
        shutdownGracePeriod: .seconds(10), promotionInterval: .milliseconds(100))
}

/// Runs a worker in this process while `body` runs, then shuts it down gracefully.
func withWorker<T: Sendable>(
    _ database: TestDatabase, _ configuration: WorkerConfiguration, handlers: [any JobHandler] = [NoopHandler()],
    _ body: (QueueWorker) async throws -> T
) async throws -> T {
    let worker = QueueWorker(connectionString: database.url, configuration: configuration, handlers: handlers, logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await worker.run() }
        do {
            let value = try await body(worker)
            worker.beginShutdown()
            try await group.waitForAll()
            return value
        } catch {
            worker.beginShutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}

/// Counts of jobs by state.
func stateCount(_ database: TestDatabase, _ state: JobState, tenantID: Int64? = nil) async throws -> Int {
    try await database.withConnection { connection in
        try connection.query(
            "SELECT count(*) FROM encours.jobs WHERE state = $1::encours.job_state AND ($2::bigint IS NULL OR tenant_id = $2)",
            [state, tenantID]
        ).decode(Int.self, row: 0, column: 0)
    }
}

func enqueue(_ database: TestDatabase, _ jobs: [NewJob]) async throws -> [Int64] {
    try await database.withConnection { try JobQueue.enqueue(jobs, on: $0).insertedIDs.sorted() }
}

func fetchJob(_ database: TestDatabase, _ id: Int64) async throws -> Job {
    try await database.withConnection { connection in
        guard let job = try JobQueue.job(id: id, on: connection) else { throw QueueError(.notFound, "job \(id)") }
        return job
    }
}

/// Tracks how many handlers run at once, per tenant.
final class ConcurrencyProbe: Sendable {
    private struct State { var current: [Int64: Int] = [:]; var peak: [Int64: Int] = [:]; var runs: [Int64: Int] = [:] }
    private let state = Mutex(State())

    func enter(tenant: Int64, job: Int64) {
        state.withLock { state in
            state.current[tenant, default: 0] += 1
            state.peak[tenant] = max(state.peak[tenant] ?? 0, state.current[tenant]!)
            state.runs[job, default: 0] += 1
        }
    }
    func leave(tenant: Int64) { state.withLock { $0.current[tenant, default: 0] -= 1 } }
    func peak(_ tenant: Int64) -> Int { state.withLock { $0.peak[tenant] ?? 0 } }
    func runs(_ job: Int64) -> Int { state.withLock { $0.runs[job] ?? 0 } }
    var totalRuns: Int { state.withLock { $0.runs.values.reduce(0, +) } }
}

/// `test.probe`: records that it ran, sleeps `sleep_ms`, and fails when the payload says `fail`.
struct ProbeHandler: JobHandler {
    let kind = "test.probe"
    let probe: ConcurrencyProbe

    func handle(_ context: JobContext) async throws {
        probe.enter(tenant: context.job.tenantID, job: context.job.id)
        defer { probe.leave(tenant: context.job.tenantID) }
        let fields = try PayloadFields(context.job.payload)
        if let milliseconds = fields.integer("sleep_ms") { try await Task.sleep(for: .milliseconds(milliseconds)) }
        if let message = fields.string("fail") { throw ProbeFailure(message: message) }
    }

    struct ProbeFailure: Error, CustomStringConvertible { var message: String; var description: String { message } }
}

/// Polls `condition` until it holds, recording a test issue if it never does within `timeout`.
func eventually(
    _ database: TestDatabase, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @escaping @Sendable (PostgresConnection) throws -> Bool
) async throws {
    let held = try await database.waitUntil(timeout: timeout, condition)
    #expect(held, "condition not met within \(timeout)", sourceLocation: sourceLocation)
}
