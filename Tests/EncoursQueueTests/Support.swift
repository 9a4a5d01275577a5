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
    try await TestTenants.make(database, slug, maxConcurrentJobs: maxConcurrentJobs)
}

/// Creates `public.effects (job_id)`, where test handlers record what their transactions wrote,
/// writable by the tenant role.
func makeEffectsTable(_ database: TestDatabase) async throws {
    try await database.withConnection {
        try $0.execute("CREATE TABLE public.effects (job_id bigint PRIMARY KEY); GRANT SELECT, INSERT ON public.effects TO encours_tenant")
    }
}

/// A quick configuration for tests: fast retries and polling.
///
/// The lease is long enough (30 s) that a machine loaded by the whole test run never lets a
/// heartbeat lapse; tests about lapsed leases pass their own short lease.
func testConfiguration(
    concurrency: Int = 8, lease: Duration = .seconds(30), listen: Bool = true, poll: Duration = .milliseconds(100),
    drain: Bool = false
) -> WorkerConfiguration {
    WorkerConfiguration(
        concurrency: concurrency, lease: lease, pollInterval: poll, listen: listen, drain: drain,
        retryPolicy: RetryPolicy(base: .milliseconds(20), maximum: .milliseconds(200)),
        shutdownGracePeriod: .seconds(10), promotionInterval: .milliseconds(100))
}

/// Runs a worker in this process while `body` runs, then shuts it down gracefully.
func withWorker<T: Sendable>(
    _ database: TestDatabase, _ configuration: WorkerConfiguration, handlers: [any JobHandler] = [ScriptedHandler()],
    logger: Logger = quietLogger, _ body: (QueueWorker) async throws -> T
) async throws -> T {
    let worker = QueueWorker(connectionString: database.url, configuration: configuration, handlers: handlers, logger: logger)
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
    try await database.integer(
        "SELECT count(*) FROM encours.jobs WHERE state = $1::encours.job_state AND ($2::bigint IS NULL OR tenant_id = $2)",
        [state, tenantID])
}

func enqueue(_ database: TestDatabase, _ jobs: [NewJob]) async throws -> [Int64] {
    try await database.withConnection { try JobQueue.enqueue(jobs, on: $0).insertedIDs.sorted() }
}

func enqueueCopies(_ database: TestDatabase, _ job: NewJob, count: Int) async throws {
    _ = try await database.withConnection { try JobQueue.enqueueCopies(of: job, count: count, on: $0) }
}

func fetchJob(_ database: TestDatabase, _ id: Int64) async throws -> Job {
    try await database.withConnection { connection in
        guard let job = try JobQueue.job(id: id, on: connection) else { throw QueueError(.notFound, "job \(id)") }
        return job
    }
}

/// Tracks how many handlers run at once, per tenant, and how often each job ran.
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

/// A handler that does what its payload says: `sleep_ms` (cancellably), `ignore_cancel_ms`
/// (sleeps without looking at cancellation), then `fail` (throws that message).
struct ScriptedHandler: JobHandler {
    let kind: String
    let probe: ConcurrencyProbe?

    init(kind: String = "noop", probe: ConcurrencyProbe? = nil) {
        self.kind = kind
        self.probe = probe
    }

    func handle(_ context: JobContext) async throws {
        probe?.enter(tenant: context.job.tenantID, job: context.job.id)
        defer { probe?.leave(tenant: context.job.tenantID) }
        let payload = try JobPayload(context.job.payload)
        if let milliseconds = try payload.integer("sleep_ms") { try await Task.sleep(for: .milliseconds(milliseconds)) }
        if let milliseconds = try payload.integer("ignore_cancel_ms") {
            // A continuation does not end when the task is cancelled, and waiting on it blocks no thread.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) { continuation.resume() }
            }
        }
        if let message = try payload.string("fail") { throw ScriptedFailure(message: message) }
    }

    struct ScriptedFailure: Error, CustomStringConvertible { var message: String; var description: String { message } }
}

/// Polls `condition` until it holds, recording a test issue if it never does within `timeout`.
func eventually(
    _ database: TestDatabase, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @escaping @Sendable (PostgresConnection) throws -> Bool
) async throws {
    let held = try await database.waitUntil(timeout: timeout, condition)
    #expect(held, "condition not met within \(timeout)", sourceLocation: sourceLocation)
}

/// Collects log messages (with their metadata) for tests that check what a worker says.
final class LogCapture: Sendable {
    struct Entry: Sendable { var level: Logger.Level; var message: String; var metadata: [String: String] }
    private let entries = Mutex<[Entry]>([])

    var logger: Logger {
        Logger(label: "test") { _ in CapturingHandler(capture: self) }
    }

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }
    var all: [Entry] { entries.withLock { $0 } }
    func contains(_ text: String) -> Bool { all.contains { $0.message.contains(text) } }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            var fields: [String: String] = [:]
            for (key, value) in metadata { fields[key] = "\(value)" }
            for (key, value) in metadataProvider?.get() ?? [:] { fields[key] = "\(value)" }
            for (key, value) in event.metadata ?? [:] { fields[key] = "\(value)" }
            capture.append(Entry(level: event.level, message: "\(event.message)", metadata: fields))
        }
    }
}

/// Runs `claim_jobs` itself, as a worker would, and returns the claimed jobs.
func claim(
    _ database: TestDatabase, worker: String = "w", limit: Int, cursor: Int64 = 0, lease: String = "30 seconds",
    tenants: [Int64]? = nil, exclude: [Int64]? = nil, kinds: [String] = ["noop"]
) async throws -> [Job] {
    try await database.withConnection { connection in
        try Job.decodeAll(connection.query(
            "SELECT \(Job.columns) FROM encours.claim_jobs($1, $2, $3::interval, $4, $5, $6, $7)",
            [worker, limit, lease, cursor, tenants, exclude, kinds]))
    }
}
