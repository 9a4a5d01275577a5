import Synchronization

/// A fixed-size pool of ``PostgresSession``s, opened lazily and shared by concurrent tasks.
public final class PostgresPool: Sendable {
    private struct State {
        var idle: [PostgresSession] = []
        var opened = 0
        var waiters: [CheckedContinuation<PostgresSession, Never>] = []
        var closed = false
    }

    /// The connection string sessions connect with.
    public let connectionString: String
    /// The most sessions open at once.
    public let size: Int
    private let name: String
    private let state = Mutex(State())

    public init(connectionString: String, size: Int, name: String = "encours-pool") {
        precondition(size > 0, "a pool needs at least one session")
        self.connectionString = connectionString
        self.size = size
        self.name = name
    }

    /// Borrows a session for the duration of `body`.
    public func withSession<T: Sendable>(_ body: (PostgresSession) async throws -> T) async throws -> T {
        let session = await acquire()
        defer { release(session) }
        return try await body(session)
    }

    /// Runs `body` with a pooled connection, on that session's thread.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withSession { try await $0.withConnection(body) }
    }

    /// Runs `body` in a transaction on a pooled connection.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withSession { try await $0.transaction(body) }
    }

    /// Closes idle sessions; sessions in use close when returned.
    public func close() async {
        let idle = state.withLock { state -> [PostgresSession] in
            state.closed = true
            defer { state.idle.removeAll() }
            return state.idle
        }
        for session in idle { await session.close() }
    }

    private func acquire() async -> PostgresSession {
        enum Next { case ready(PostgresSession), open(Int), wait }
        let next = state.withLock { state -> Next in
            if let session = state.idle.popLast() { return .ready(session) }
            if state.opened < size {
                state.opened += 1
                return .open(state.opened)
            }
            return .wait
        }
        switch next {
        case .ready(let session): return session
        case .open(let number): return PostgresSession(connectionString: connectionString, name: "\(name)-\(number)")
        case .wait:
            return await withCheckedContinuation { continuation in
                let handOver = state.withLock { state -> PostgresSession? in
                    if let session = state.idle.popLast() { return session }
                    state.waiters.append(continuation)
                    return nil
                }
                if let handOver { continuation.resume(returning: handOver) }
            }
        }
    }

    private func release(_ session: PostgresSession) {
        let waiter = state.withLock { state -> CheckedContinuation<PostgresSession, Never>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(session)
            return nil
        }
        waiter?.resume(returning: session)
    }
}
