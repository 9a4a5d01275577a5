import EncoursPostgres
import Logging

/// What a handler gets for one attempt of one job.
public struct JobContext: Sendable {
    /// The job as claimed (its `attempt` is this attempt's number).
    public let job: Job
    /// A logger carrying `job.id`, `job.kind` and `tenant.id`.
    public let logger: Logger
    /// Connections for the handler's own database work.
    public let pool: PostgresPool

    public init(job: Job, logger: Logger, pool: PostgresPool) {
        self.job = job
        self.logger = logger
        self.pool = pool
    }

    /// Runs `body` in one transaction on a pooled connection. Jobs enqueued inside it with
    /// ``JobQueue/enqueue(_:on:)`` commit or roll back together with the handler's own writes.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await pool.transaction(body)
    }
}

/// Runs jobs of one kind.
///
/// Throwing marks the attempt failed (retried with backoff, then discarded); a handler that is
/// cancelled (job cancelled, or worker shutting down past its grace period) should stop promptly.
public protocol JobHandler: Sendable {
    /// The kind this handler runs, such as `noop` or `dunning.run`.
    var kind: String { get }
    func handle(_ context: JobContext) async throws
}

/// The `noop` kind: does nothing, for benchmarks and health checks.
///
/// An optional payload field `sleep_ms` makes it wait that long (cancellably) first, which
/// tests of leases, cancellation and shutdown use to have a job that is still running.
public struct NoopHandler: JobHandler {
    public let kind = "noop"
    public init() {}

    public func handle(_ context: JobContext) async throws {
        // The benchmarks' jobs have an empty payload: do not even parse it.
        guard context.job.payload != "{}" else { return }
        let fields = try PayloadFields(context.job.payload)
        if let milliseconds = fields.integer("sleep_ms"), milliseconds > 0 {
            try await Task.sleep(for: .milliseconds(milliseconds))
        }
        if let message = fields.string("fail") {
            throw NoopFailure(message: message)
        }
    }

    struct NoopFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
