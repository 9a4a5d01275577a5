import EncoursPostgres
import EncoursTestSupport
import Foundation
import Synchronization
import Testing

@Suite("libpq wrapper")
struct PostgresClientTests {
    @Test("a malformed URL and an unreachable server fail with a one-line connection error")
    func connectionErrors() async throws {
        await #expect(throws: PostgresError.self) {
            try await PostgresSession(connectionString: "postgresql://user@host:notaport/db").connect()
        }
        do {
            try await PostgresSession(connectionString: "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2").connect()
            Issue.record("connected to a port nobody listens on")
        } catch let error as PostgresError {
            #expect(error.code == .connectionFailed)
            #expect(!error.message.contains("\n"))
            #expect(error.message.contains("cannot connect"))
        }
    }

    @Test("parameters bind as values and decode to typed Swift values, NULLs included")
    func parametersAndDecoding() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                let tricky = "O'Brien; DROP TABLE x; -- \"quoted\" \\ back"
                let result = try connection.query(
                    "SELECT $1::text AS t, $2::bigint AS n, $3::boolean AS b, $4::text AS missing, $5::timestamptz AS at",
                    [tricky, Int64(9_007_199_254_740_993), true, Optional<String>.none, Date(timeIntervalSince1970: 1_700_000_000.123456)])
                let row = try #require(result.first)
                #expect(try row.decode("t", as: String.self) == tricky)
                #expect(try row.decode("n", as: Int64.self) == 9_007_199_254_740_993)
                #expect(try row.decode("b", as: Bool.self))
                #expect(try row.decode("missing", as: String?.self) == nil)
                let at = try row.decode("at", as: Date.self)
                #expect(abs(at.timeIntervalSince1970 - 1_700_000_000.123456) < 0.000_001)
                #expect(throws: PostgresError.self) { try row.decode("t", as: Int.self) }
            }
        }
    }

    @Test("arrays round-trip through the text literal syntax, with quotes, commas, braces and NULLs")
    func arrays() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                let values: [String?] = ["plain", "with,comma", "{braces}", "quote\"and\\slash", nil, "", "NULL"]
                let result = try connection.query("SELECT $1::text[] AS a, array_length($1::text[], 1) AS n", [values])
                let row = try #require(result.first)
                #expect(try row.decode("n", as: Int.self) == values.count)
                #expect(PostgresArrayLiteral.decode(try row.decode("a", as: String.self)) == values)
                let ids: [Int64] = [3, 1, 2]
                let sum = try connection.query("SELECT sum(x)::bigint FROM unnest($1::bigint[]) AS x", [ids])
                #expect(try sum.decode(Int64.self, row: 0, column: 0) == 6)
                // Integers are written digit by digit: the extremes, zero, negatives, and every digit count.
                var integers: [Int64] = [0, -1, 9, 10, -10, 99, 100, .max, .min, .max - 1, .min + 1]
                var power: Int64 = 1
                for _ in 0..<18 { power *= 10; integers += [power - 1, power, -power, -(power + 1)] }
                #expect(PostgresArrayLiteral.encode(integers: [Int64]()) == "{}")
                #expect(PostgresArrayLiteral.encode(integers: [7, -42, 0]) == "{7,-42,0}")
                #expect(PostgresArrayLiteral.encode(integers: integers) == "{" + integers.map(String.init).joined(separator: ",") + "}")
                let echoed = try connection.query("SELECT x::text FROM unnest($1::bigint[]) WITH ORDINALITY AS u (x, n) ORDER BY n", [integers])
                #expect(try echoed.rows.map { try $0.decode(0, as: String.self) } == integers.map(String.init))
                let small: [Int] = [Int(Int32.max), -5]
                let echoedInts = try connection.query("SELECT array_to_string($1::bigint[], ';')", [small])
                #expect(try echoedInts.decode(String.self, row: 0, column: 0) == "2147483647;-5")
            }
        }
    }

    @Test("server errors carry SQLSTATE and message; a failed transaction rolls back")
    func errorsAndTransactions() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                try connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
                try connection.query("INSERT INTO t VALUES ($1)", [1])
                do {
                    try connection.query("INSERT INTO t VALUES ($1)", [1])
                    Issue.record("duplicate key accepted")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "23505")
                    #expect(error.isUniqueViolation)
                    #expect(error.message.contains("duplicate key"))
                }
                struct Abort: Error {}
                #expect(throws: Abort.self) {
                    try connection.transaction { connection in
                        try connection.query("INSERT INTO t VALUES ($1)", [2])
                        throw Abort()
                    }
                }
                let count = try connection.query("SELECT count(*) FROM t").decode(Int.self, row: 0, column: 0)
                #expect(count == 1)
            }
        }
    }

    @Test("LISTEN receives a NOTIFY sent from another connection, only after its commit")
    func listenNotify() async throws {
        try await TestDatabase.with { database in
            let listener = database.session(name: "listener")
            try await listener.withConnection { try $0.listen("encours_test") }
            // One thread holds the sender's transaction open while the listener waits.
            let url = database.url
            let early = try await listener.withConnection { listening in
                let sender = try PostgresConnection(connectionString: url)
                try sender.execute("BEGIN")
                try sender.query("SELECT pg_notify('encours_test', $1)", ["hello"])
                let early = try listening.waitForNotifications(timeout: .milliseconds(200))
                try sender.execute("COMMIT")
                return early
            }
            #expect(early.isEmpty)
            let notes = try await listener.withConnection { try $0.waitForNotifications(timeout: .seconds(5)) }
            #expect(notes.map(\.payload) == ["hello"])
            #expect(notes.first?.channel == "encours_test")
            await listener.close()
        }
    }

    @Test("COPY FROM STDIN loads rows, escaping tabs, newlines and NULLs")
    func copyIn() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                try connection.execute("CREATE TABLE c (id int, note text)")
                let lines = (1...1000).lazy.map { i in
                    "\(i)\t\(PostgresConnection.copyEscape(i == 7 ? nil : "line\t\(i)\nnext"))\n"
                }
                let copied = try connection.copyIn("COPY c (id, note) FROM STDIN", chunks: lines)
                #expect(copied == 1000)
                let row = try #require(try connection.query("SELECT note FROM c WHERE id = 5").first)
                #expect(try row.decode("note", as: String.self) == "line\t5\nnext")
                #expect(try connection.query("SELECT count(*) FROM c WHERE note IS NULL").decode(Int.self, row: 0, column: 0) == 1)
            }
        }
    }

    @Test("sessions run libpq on their own thread, not on the cooperative pool")
    func dedicatedThreads() async throws {
        try await TestDatabase.with { database in
            let session = database.session(name: "encours-thread-check")
            let name = try await session.withConnection { _ in DedicatedThreadExecutor.currentExecutorName() }
            #expect(name == "encours-thread-check")
            #expect(DedicatedThreadExecutor.currentExecutorName() == nil)
            // More blocking statements than the cooperative pool has threads: if they ran on the
            // pool, no other task could run until they finished. A task started after them finishes first.
            let pool = PostgresPool(connectionString: database.url, size: 6)
            final class Counter: Sendable { let value = Mutex(0) }
            let finishedSleeps = Counter()
            let sleepsWhenProbeRan = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await pool.withConnection { _ = try $0.query("SELECT pg_sleep(2)") }
                        finishedSleeps.value.withLock { $0 += 1 }
                        return nil
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(300))
                    return finishedSleeps.value.withLock { $0 }
                }
                var observed: Int?
                for try await value in group { if let value { observed = value } }
                return observed
            }
            #expect(sleepsWhenProbeRan == 0, "the probe ran only after \(sleepsWhenProbeRan ?? -1) blocking statements finished")
            await pool.close()
            await session.close()
        }
    }

    @Test("a connection goes back to the pool clean: a body that throws mid-transaction leaves no transaction, role or tenant behind")
    func poolReturnsCleanConnections() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { try $0.execute("CREATE ROLE encours_test_role NOLOGIN; GRANT encours_test_role TO CURRENT_USER") }
            let pool = PostgresPool(connectionString: database.url, size: 1)
            struct Failure: Error {}
            await #expect(throws: Failure.self) {
                try await pool.withConnection { connection in
                    try connection.execute("BEGIN")
                    try connection.execute("CREATE TABLE leaked (id int)")
                    try connection.query("SELECT set_config('test.tenant_id', '42', true)")
                    try connection.execute("SET LOCAL ROLE encours_test_role")
                    throw Failure()
                }
            }
            // A failed statement inside a transaction leaves it aborted: that is cleaned up too.
            await #expect(throws: PostgresError.self) {
                try await pool.withConnection { connection in
                    try connection.execute("BEGIN")
                    try connection.execute("SELECT 1/0")
                }
            }
            let (status, user, tenant, leaked) = try await pool.withConnection { connection in
                (connection.transactionStatus, try connection.query("SELECT current_user::text").decode(String.self, row: 0, column: 0),
                 try connection.query("SELECT coalesce(current_setting('test.tenant_id', true), '')").decode(String.self, row: 0, column: 0),
                 try connection.query("SELECT to_regclass('leaked') IS NOT NULL").decode(Bool.self, row: 0, column: 0))
            }
            #expect(status == .idle)
            #expect(user == "postgres")
            #expect(tenant == "")
            #expect(!leaked)
            await pool.close()
            try await database.withConnection { try $0.execute("DROP ROLE encours_test_role") }
        }
    }

    @Test("a connection the server closed while it sat idle is found out before it is used: the next statement runs on a fresh one")
    func closedIdleConnectionIsReplaced() async throws {
        try await TestDatabase.with { database in
            let pool = PostgresPool(connectionString: database.url, size: 1)
            let first = try await pool.withConnection { try $0.query("SELECT pg_backend_pid()").decode(Int.self, row: 0, column: 0) }
            // As a server restart does: the idle backend is told to go and its socket closed.
            _ = try await database.withConnection { try $0.query("SELECT pg_terminate_backend($1)", [first]).count }
            let gone = try await database.waitUntil(timeout: .seconds(10)) { connection in
                try connection.query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [first]).decode(Int.self, row: 0, column: 0) == 0
            }
            #expect(gone)
            let second = try await pool.withConnection { try $0.query("SELECT pg_backend_pid()").decode(Int.self, row: 0, column: 0) }
            #expect(second != first)
            await pool.close()

            // The check itself, on the session's thread: true while open, false once the server closed it.
            let session = database.session(name: "refresh-status")
            let url = database.url
            let noticed = try await session.withConnection { connection -> Bool in
                let pid = try connection.query("SELECT pg_backend_pid()").decode(Int.self, row: 0, column: 0)
                guard connection.refreshStatus() else { return false }
                let admin = try PostgresConnection(connectionString: url)
                defer { admin.close() }
                try admin.query("SELECT pg_terminate_backend($1, 5000)", [pid])
                for _ in 0..<200 {
                    if !connection.refreshStatus() { return !connection.isHealthy }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                return false
            }
            #expect(noticed)
            await session.close()
        }
    }

    @Test("cancelling the calling task cancels the statement on the server")
    func cancellationCancelsTheStatement() async throws {
        try await TestDatabase.with { database in
            let session = database.session(name: "cancel-me")
            let started = ContinuousClock.now
            let task = Task { try await session.withConnection { _ = try $0.query("SELECT pg_sleep(30)") } }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(ContinuousClock.now - started < .seconds(10))
            let sleeping = try await database.integer("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_sleep(30)' AND state = 'active'")
            #expect(sleeping == 0, "the server still runs the statement")
            // The session is usable afterwards.
            #expect(try await session.withConnection { try $0.query("SELECT 1").decode(Int.self, row: 0, column: 0) } == 1)
            await session.close()
        }
    }

    @Test("a parameter with a NUL character is refused before anything is sent, instead of being cut short")
    func nulParametersAreRefused() async throws {
        try await TestDatabase.with { database in
            do {
                _ = try await database.withConnection { try $0.query("SELECT $1::text", ["abc\u{0}def"]).decode(String.self, row: 0, column: 0) }
                Issue.record("a NUL parameter was sent")
            } catch let error as PostgresError {
                #expect(error.code == .invalidParameter)
                #expect(error.message.contains("parameter $1 contains a NUL"))
            }
        }
    }

    @Test("connection defaults (timeouts, keepalives, application name) apply unless the connection string sets them")
    func connectionOptions() async throws {
        try await TestDatabase.with { database in
            let name = try await database.withConnection { try $0.query("SHOW application_name").decode(String.self, row: 0, column: 0) }
            #expect(name == "encours")
            let separator = database.url.contains("?") ? "&" : "?"
            let custom = PostgresSession(connectionString: database.url + separator + "application_name=custom")
            #expect(try await custom.withConnection { try $0.query("SHOW application_name").decode(String.self, row: 0, column: 0) } == "custom")
            await custom.close()
            #expect(PostgresConnectionOptions.standard.tcpUserTimeoutMilliseconds == 20_000)
        }
    }
}
