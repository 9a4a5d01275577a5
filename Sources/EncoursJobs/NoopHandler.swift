import EncoursQueue

/// The `noop` kind: does nothing, for benchmarks and health checks.
///
/// Two optional payload fields make it useful to drills and tests of the worker: `sleep_ms`
/// makes it wait that long (cancellably) first, and `fail` makes it throw that message.
public struct NoopHandler: JobHandler {
    public let kind = "noop"
    public init() {}

    public func handle(_ context: JobContext) async throws {
        // The benchmarks' jobs have an empty payload: do not even parse it.
        guard context.job.payload != "{}" else { return }
        let payload = try JobPayload(stored: context.job.payload)
        if let milliseconds = try payload.integer("sleep_ms"), milliseconds > 0 {
            try await Task.sleep(for: .milliseconds(min(milliseconds, 86_400_000)))
        }
        if let message = try payload.string("fail") {
            throw HandlerError(.requestedFailure, message)
        }
    }
}
