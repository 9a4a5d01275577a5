import EncoursPostgres

/// An error from the queue engine, with a code and the context that explains it.
public struct QueueError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A job, tenant or worker that was named does not exist.
        case notFound = "not_found"
        /// The request is not valid (bad priority, payload not an object, ...).
        case invalidInput = "invalid_input"
        /// The job is not in a state that allows the operation.
        case invalidState = "invalid_state"
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
