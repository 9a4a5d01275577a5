@_exported import EncoursThreads
import Foundation
import Synchronization

/// One PostgreSQL connection bound to its own thread, usable from async code.
///
/// All libpq calls of a session run on the session's ``DedicatedThreadExecutor``; callers `await`
/// the result without ever blocking the cooperative pool. A broken connection is reopened on next use.
///
/// Each ``withConnection(_:)`` call gets the connection clean and must leave it clean: when its
/// body returns or throws inside a transaction, the transaction is rolled back (or, if that
/// fails, the connection is dropped), so the next caller never inherits a transaction, its
/// locks, or the role and tenant it set with `SET LOCAL`. When the calling task is cancelled
/// while a statement runs, the statement is cancelled on the server (`PQcancel`) and the call
/// throws `CancellationError`.
public actor PostgresSession {
    private let executor: DedicatedThreadExecutor
    private var connection: PostgresConnection?
    /// The open connection's cancel handle, made once per connection.
    private var cancelHandle: PostgresCancelHandle?
    /// The running statement's cancel handle, reachable from any thread.
    private nonisolated let running = Mutex(Running())

    /// The running call's cancel handle, and whether its task was cancelled, under one lock so a
    /// cancellation is never missed between installing the handler and starting the statement.
    private struct Running: Sendable {
        var handle: PostgresCancelHandle?
        var cancelled = false
    }
    /// The connection string this session connects with.
    public nonisolated let connectionString: String
    /// Statements run on every new connection (session settings), if any.
    public nonisolated let setupSQL: String?
    /// Timeouts and keepalives of every connection it opens.
    public nonisolated let options: PostgresConnectionOptions

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Creates a session; the connection opens on first use (or call ``connect()``).
    /// `setupSQL` runs on each new connection, e.g. `SET synchronous_commit = off`.
    public init(
        connectionString: String, name: String = "encours-postgres", setupSQL: String? = nil,
        options: PostgresConnectionOptions = .standard
    ) {
        self.connectionString = connectionString
        self.setupSQL = setupSQL
        self.options = options
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
    public func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try Task.checkCancellation()
        let connection = try liveConnection()
        return try await withTaskCancellationHandler {
            let handle = cancelHandle
            let cancelled = running.withLock { running -> Bool in
                running.handle = handle
                return running.cancelled
            }
            defer { running.withLock { $0 = Running() } }
            if cancelled { throw CancellationError() }
            do {
                let value = try body(connection)
                restoreClean(connection)
                return value
            } catch let error as PostgresError {
                restoreClean(connection)
                if error.isQueryCanceled, Task.isCancelled { throw CancellationError() }
                if !connection.isHealthy { self.connection = nil }
                throw error
            } catch {
                restoreClean(connection)
                throw error
            }
        } onCancel: {
            running.withLock { running in
                running.cancelled = true
                _ = running.handle?.cancelStatement()
            }
        }
    }

    /// Opens a session, runs `body` once with its connection, and closes it whether `body`
    /// returns or throws: for a command or a check that needs one connection for one job.
    public static func once<T: Sendable>(
        connectionString: String, name: String, options: PostgresConnectionOptions = .standard,
        _ body: @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let session = PostgresSession(connectionString: connectionString, name: name, options: options)
        do {
            let value = try await session.withConnection(body)
            await session.close()
            return value
        } catch {
            await session.close()
            throw error
        }
    }

    /// Runs `body` in a transaction on the session's thread.
    public func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withConnection { try $0.transaction(body) }
    }

    /// Closes the connection and lets the thread end.
    public func close() {
        connection?.close()
        connection = nil
        executor.shutdown()
    }

    /// Rolls back a transaction the caller left open; drops a connection that cannot be made clean.
    private func restoreClean(_ connection: PostgresConnection) {
        switch connection.transactionStatus {
        case .idle:
            return
        case .inTransaction, .failedTransaction:
            if (try? connection.execute("ROLLBACK")) != nil, connection.transactionStatus == .idle { return }
            fallthrough
        case .busyOrBroken:
            connection.close()
            if self.connection === connection { self.connection = nil }
        }
    }

    private func liveConnection() throws -> PostgresConnection {
        // Checked with a read, not only libpq's status: a server restart closes idle connections
        // without libpq noticing until the next statement fails.
        if let connection, connection.refreshStatus() { return connection }
        connection?.close()
        connection = nil
        let fresh = try PostgresConnection(connectionString: connectionString, options: options)
        if let setupSQL { try fresh.execute(setupSQL) }
        connection = fresh
        cancelHandle = fresh.makeCancelHandle()
        return fresh
    }
}
