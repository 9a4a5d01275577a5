/// An error from PostgreSQL or libpq, with the SQLSTATE and server message where there is one.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable {
        /// The connection could not be made (bad URL, unreachable server, authentication).
        case connectionFailed = "connection_failed"
        /// The connection broke while in use.
        case connectionLost = "connection_lost"
        /// The server rejected a statement; `sqlState` says why.
        case server
        /// A value in a result could not be decoded to the requested Swift type.
        case decoding
        /// A COPY or other protocol step failed on the client side.
        case client
        /// A parameter could not be sent as given (it contains a NUL character).
        case invalidParameter = "invalid_parameter"
    }

    public var code: Code
    /// The five-character SQLSTATE (for example `23505` for a unique violation), when the server sent one.
    public var sqlState: String?
    /// The primary message, on one line.
    public var message: String
    /// The server's DETAIL field, if any.
    public var detail: String?
    /// The statement that failed, for context in logs.
    public var query: String?

    public init(code: Code, message: String, sqlState: String? = nil, detail: String? = nil, query: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.query = query
    }

    public var description: String {
        var text = message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail, !detail.isEmpty { text += ": \(detail)" }
        return text
    }

    /// True when the server reported a unique-constraint violation.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// True when the server cancelled the statement (`PQcancel`, or `statement_timeout`).
    public var isQueryCanceled: Bool { sqlState == "57014" }
    /// True when the error means the connection cannot be used any more.
    public var isConnectionError: Bool {
        code == .connectionFailed || code == .connectionLost || (sqlState?.hasPrefix("08") ?? false)
    }
}
