import EncoursPostgres

/// One numbered SQL migration from `sql/migrations/`.
public struct Migration: Sendable, Hashable {
    /// The number in the file name (`0001_...sql` is 1).
    public var version: Int
    /// The file name, for the record.
    public var name: String
    /// The SQL, run in one transaction.
    public var sql: String
}

/// Applies the embedded migrations, in order, each in its own transaction, recorded in
/// `encours.schema_migrations`; a second run applies nothing.
public enum Migrator {
    /// Every migration embedded in this binary, in version order.
    public static let all: [Migration] = embeddedMigrationFiles.compactMap { file in
        guard let version = Int(file.name.prefix { $0.isNumber }) else { return nil }
        return Migration(version: version, name: file.name, sql: file.sql)
    }.sorted { $0.version < $1.version }

    /// Applies every migration not yet recorded; returns the ones applied now.
    ///
    /// An advisory lock serializes concurrent runs (two deploys starting at once).
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, migrations: [Migration] = all) throws -> [Migration] {
        try connection.execute("CREATE SCHEMA IF NOT EXISTS encours")
        try connection.query("SELECT pg_advisory_lock(hashtext('encours.migrate'))")
        defer { _ = try? connection.query("SELECT pg_advisory_unlock(hashtext('encours.migrate'))") }
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS encours.schema_migrations (
                version    INTEGER PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """)
        let applied = Set(try connection.query("SELECT version FROM encours.schema_migrations").rows.map {
            try $0.decode(0, as: Int.self)
        })
        var done: [Migration] = []
        for migration in migrations where !applied.contains(migration.version) {
            try connection.transaction { connection in
                try connection.execute(migration.sql)
                try connection.query(
                    "INSERT INTO encours.schema_migrations (version, name) VALUES ($1, $2)",
                    [migration.version, migration.name])
            }
            done.append(migration)
        }
        return done
    }
}
