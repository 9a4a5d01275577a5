import EncoursPostgres

/// An error from the queue engine, with a code and the context that explains it.
public struct QueueError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A job, tenant or worker that was named does not exist.
        case notFound = "not_found"
        /// The request is not valid (bad priority, payload not an object, count too large, ...).
        case invalidInput = "invalid_input"
        /// The job is not in a state that allows the operation.
        case invalidState = "invalid_state"
        /// This worker no longer holds the job's lease (it was rescued, or its attempt moved on):
        /// nothing the attempt would write may be recorded.
        case leaseLost = "lease_lost"
        /// A cancel was requested for the job; its attempt must stop without recording effects.
        case cancelled
        /// The database failed; `underlying` has the PostgreSQL error.
        case database
    }

    public var code: Code
    public var message: String
    public var underlying: PostgresError?

    public init(_ code: Code, _ message: String, underlying: PostgresError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying { return "\(message): \(underlying)" }
        return message
    }
}
