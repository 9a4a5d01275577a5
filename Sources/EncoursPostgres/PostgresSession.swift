import Foundation

/// One PostgreSQL connection bound to its own thread, usable from async code.
///
/// All libpq calls of a session run on the session's ``DedicatedThreadExecutor``; callers `await`
/// the result without ever blocking the cooperative pool. A broken connection is reopened on next use.
public actor PostgresSession {
    private let executor: DedicatedThreadExecutor
    private var connection: PostgresConnection?
    /// The connection string this session connects with.
    public nonisolated let connectionString: String
    /// Statements run on every new connection (session settings), if any.
    public nonisolated let setupSQL: String?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Creates a session; the connection opens on first use (or call ``connect()``).
    /// `setupSQL` runs on each new connection, e.g. `SET synchronous_commit = off`.
    public init(connectionString: String, name: String = "encours-postgres", setupSQL: String? = nil) {
        self.connectionString = connectionString
        self.setupSQL = setupSQL
        self.executor = DedicatedThreadExecutor(name: name)
    }

    deinit {
        // The connection closes itself when released; the thread ends once its queue is empty.
        executor.shutdown()
    }

    /// Opens the connection now, so a bad URL or unreachable server is reported early.
    public func connect() throws {
        _ = try liveConnection()
    }

    /// Runs `body` with the connection, on the session's thread.
    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) throws -> T {
        let connection = try liveConnection()
        do {
            return try body(connection)
        } catch let error as PostgresError where !connection.isHealthy {
            self.connection = nil
            throw error
        }
    }

    /// Runs `body` in a transaction on the session's thread.
    public func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) throws -> T {
        try withConnection { try $0.transaction(body) }
    }

    /// Closes the connection and lets the thread end.
    public func close() {
        connection?.close()
        connection = nil
        executor.shutdown()
    }

    private func liveConnection() throws -> PostgresConnection {
        if let connection, connection.isHealthy { return connection }
        connection?.close()
        connection = nil
        let fresh = try PostgresConnection(connectionString: connectionString)
        if let setupSQL { try fresh.execute(setupSQL) }
        connection = fresh
        return fresh
    }
}
