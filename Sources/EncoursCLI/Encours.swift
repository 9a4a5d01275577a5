import ArgumentParser
import EncoursAdmin
import EncoursPostgres
import EncoursQueue
import Foundation

@main
struct Encours: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encours",
        abstract: "Encours admin CLI: migrate, manage tenants, enqueue work and inspect the queue.",
        subcommands: [
            Migrate.self, TenantCommand.self, Import.self, PromisesCommand.self, DisputesCommand.self, ReportCommand.self,
            Enqueue.self, QueueCommand.self, JobsCommand.self,
        ])
}

/// `--database-url`, shared by every command that talks to PostgreSQL.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq connection string or URI (default: $ENCOURS_DATABASE_URL, then $DATABASE_URL).")
    var databaseURL: String?

    /// Connects on a dedicated thread, so the CLI never blocks Swift's cooperative pool.
    func session() async throws -> PostgresSession {
        let url = try DatabaseURL.resolve(flag: databaseURL, environment: ProcessInfo.processInfo.environment)
        let session = PostgresSession(connectionString: url, name: "encours-cli")
        try await session.connect()
        return session
    }

    /// Runs `body` with a connection and turns any failure into a one-line error and exit status 1.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        do {
            let session = try await session()
            let value = try await session.withConnection(body)
            await session.close()
            return value
        } catch {
            fail(error)
        }
    }
}

/// Prints `encours: MESSAGE` on stderr and exits with `status`.
func fail(_ error: any Error, status: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("encours: \(AdminError.userMessage(for: error))\n".utf8))
    exit(status)
}

func printJSON<T: Encodable>(_ value: T) throws {
    print(try Output.json(value))
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the embedded SQL migrations (a second run is a no-op).")
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let applied = try await database.run { try Admin.migrate(on: $0) }
        if applied.isEmpty {
            print("database is up to date")
        } else {
            for name in applied { print("applied \(name)") }
        }
    }
}
