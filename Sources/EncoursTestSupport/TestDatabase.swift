import EncoursMigrations
import EncoursPostgres
import EncoursTenancy
import Foundation

/// A throwaway database for one test, cloned from a migrated template.
///
/// The server comes from `ENCOURS_TEST_ADMIN_URL` (a superuser URL to any database, which
/// `scripts/test` sets after starting its own cluster).
public struct TestDatabase: Sendable {
    /// Connection URL of this test's database.
    public let url: String
    /// Its name.
    public let name: String

    /// The admin URL from the environment, or a clear failure.
    public static func adminURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["ENCOURS_TEST_ADMIN_URL"], !url.isEmpty else {
            throw PostgresError(code: .connectionFailed, message: "ENCOURS_TEST_ADMIN_URL is not set: run the tests with scripts/test")
        }
        return url
    }

    /// Replaces the database name in a `postgresql://` URL.
    public static func url(_ base: String, database: String) -> String {
        guard let slash = base.range(of: "/", options: .backwards), base[..<slash.lowerBound].contains("@") || base.hasPrefix("postgres") else {
            return base + " dbname=\(database)"
        }
        let query = base[slash.upperBound...].firstIndex(of: "?").map { String(base[$0...]) } ?? ""
        return String(base[..<slash.upperBound]) + database + query
    }

    /// Creates a fresh migrated database, runs `body`, then drops it.
    public static func with<T: Sendable>(_ body: (TestDatabase) async throws -> T) async throws -> T {
        let database = try await create()
        do {
            let value = try await body(database)
            try await database.drop()
            return value
        } catch {
            try? await database.drop()
            throw error
        }
    }

    static func create() async throws -> TestDatabase {
        let admin = try adminURL()
        let template = try await Template.shared.name(adminURL: admin)
        let name = "encours_test_\(ProcessInfo.processInfo.processIdentifier)_\(UInt32.random(in: 0..<UInt32.max))"
        try await PostgresSession.once(connectionString: admin, name: "test-admin") { connection in
            try connection.execute("CREATE DATABASE \(PostgresConnection.quoteIdentifier(name)) TEMPLATE \(PostgresConnection.quoteIdentifier(template))")
        }
        return TestDatabase(url: url(admin, database: name), name: name)
    }

    func drop() async throws {
        let name = self.name
        try await PostgresSession.once(connectionString: try Self.adminURL(), name: "test-admin") { connection in
            try connection.execute("DROP DATABASE IF EXISTS \(PostgresConnection.quoteIdentifier(name)) WITH (FORCE)")
        }
    }

    /// A new session on this database.
    public func session(name: String = "test") -> PostgresSession {
        PostgresSession(connectionString: url, name: name)
    }

    /// Runs `body` on a fresh connection to this database.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await PostgresSession.once(connectionString: url, name: "test", body)
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
    public func waitUntil(
        timeout: Duration = .seconds(30), _ condition: @escaping @Sendable (PostgresConnection) throws -> Bool
    ) async throws -> Bool {
        let session = session(name: "test-poll")
        let deadline = ContinuousClock.now + timeout
        var held = false
        do {
            held = try await session.withConnection(condition)
            while !held, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                held = try await session.withConnection(condition)
            }
        } catch {
            await session.close()
            throw error
        }
        await session.close()
        return held
    }
}

/// The migrated template database, created once per test process.
actor Template {
    static let shared = Template()
    /// The one creation, shared by every test that asks while it runs (actor calls interleave at awaits).
    private var creation: Task<String, any Error>?

    func name(adminURL: String) async throws -> String {
        if let creation { return try await creation.value }
        let creation = Task { try await Self.create(adminURL: adminURL) }
        self.creation = creation
        return try await creation.value
    }

    private static func create(adminURL: String) async throws -> String {
        let name = "encours_template_\(ProcessInfo.processInfo.processIdentifier)"
        let admin = PostgresSession(connectionString: adminURL, name: "test-template")
        try await admin.withConnection { connection in
            try connection.execute("DROP DATABASE IF EXISTS \(PostgresConnection.quoteIdentifier(name)) WITH (FORCE)")
            try connection.execute("CREATE DATABASE \(PostgresConnection.quoteIdentifier(name))")
        }
        let migrate = PostgresSession(connectionString: TestDatabase.url(adminURL, database: name), name: "test-migrate")
        try await migrate.withConnection { _ = try Migrator.migrate($0) }
        await migrate.close()
        await admin.close()
        return name
    }
}

/// Tenants for tests, inserted directly (the admin commands' validation is tested on its own).
public enum TestTenants {
    /// Creates a tenant and returns its id; `maxConcurrentJobs` caps its running jobs.
    public static func make(_ database: TestDatabase, _ slug: String, maxConcurrentJobs: Int? = nil) async throws -> Int64 {
        try await database.withConnection { connection in
            let tenant = try TenantStore.create(
                slug: slug, name: slug.capitalized, currency: "EUR", locale: "fr", timezone: "Europe/Paris", on: connection)
            if let maxConcurrentJobs {
                _ = try TenantStore.updateMaxConcurrentJobs(slug: slug, to: maxConcurrentJobs, on: connection)
            }
            return tenant.id
        }
    }
}

extension TestDatabase {
    /// Makes the database refuse new connections and ends every open one: for the client, the
    /// database is gone (a server outage or a network cut) until ``reopen()``.
    public func cutOff() async throws {
        let name = self.name
        try await PostgresSession.once(connectionString: try Self.adminURL(), name: "test-admin") { connection in
            try connection.execute("ALTER DATABASE \(PostgresConnection.quoteIdentifier(name)) ALLOW_CONNECTIONS false")
            try connection.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [name])
        }
    }

    /// Lets clients connect again after ``cutOff()``.
    public func reopen() async throws {
        let name = self.name
        try await PostgresSession.once(connectionString: try Self.adminURL(), name: "test-admin") { connection in
            try connection.execute("ALTER DATABASE \(PostgresConnection.quoteIdentifier(name)) ALLOW_CONNECTIONS true")
        }
    }

    /// One integer from a query (a count, typically).
    public func integer(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws -> Int {
        try await withConnection { try $0.query(sql, parameters).decode(Int.self, row: 0, column: 0) }
    }
}
