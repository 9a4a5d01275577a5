import ArgumentParser
import EncoursAdmin
import EncoursPostgres
import EncoursRuntime
import Foundation

@main
struct Encours: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encours",
        abstract: "Encours admin CLI: migrate, manage tenants, enqueue work and inspect the queue.",
        version: "encours \(BuildInfo.description)",
        subcommands: [
            Migrate.self, TenantCommand.self, Import.self, PolicyCommand.self, TemplatesCommand.self, RatesCommand.self, DunningCommand.self,
            RemindersCommand.self, RiskCommand.self, PromisesCommand.self, DisputesCommand.self, ReportCommand.self,
            Enqueue.self, QueueCommand.self, JobsCommand.self, DemoCommand.self,
        ])

    /// Refuses arguments that are not valid UTF-8 before parsing (which would repair them silently).
    static func main() async {
        if let position = CommandLineCheck.firstInvalidUTF8Argument() {
            FileHandle.standardError.write(Data("encours: argument \(position) is not valid UTF-8; nothing was done\n".utf8))
            Foundation.exit(64)
        }
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// `--database-url`, shared by every command that talks to PostgreSQL.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq connection string or URI (default: $ENCOURS_DATABASE_URL, then $DATABASE_URL).")
    var databaseURL: String?

    /// The connection string, from the flag or the environment.
    func url() throws -> String {
        try DatabaseURL.resolve(flag: databaseURL, environment: ProcessInfo.processInfo.environment)
    }

    /// Runs `body` with a connection and turns any failure into a one-line error and exit status 1.
    ///
    /// SIGINT or SIGTERM cancels the statement running on the server and exits 130: the
    /// transaction rolls back, so nothing is left half done.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        do {
            return try await perform(body)
        } catch {
            fail(error)
        }
    }

    /// Like ``run(_:)``, but throws the failure for the caller to report.
    func perform<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        // A dedicated thread runs libpq, so the CLI never blocks Swift's cooperative pool.
        let url = try url()
        return try await Interruption.cancelOnSignal {
            try await PostgresSession.once(connectionString: url, name: "encours-cli", body)
        }
    }
}

/// Prints `encours: MESSAGE` on stderr and exits with `status` (130 when interrupted).
func fail(_ error: any Error, status: Int32 = 1) -> Never {
    if error is CancellationError {
        FileHandle.standardError.write(Data("encours: interrupted; the statement was cancelled and nothing was changed\n".utf8))
        exit(130)
    }
    FileHandle.standardError.write(Data("encours: \(ErrorMessage.line(for: error))\n".utf8))
    exit(status)
}

func printJSON<T: Encodable>(_ value: T) throws {
    print(try Output.json(value))
}

/// Lists are written element by element (see ``Output/writeJSONArray(_:to:)``), the same text.
func printJSON<T: Encodable>(_ values: [T]) throws {
    fflush(nil)  // what print() buffered goes first
    let output = FileHandle.standardOutput
    try Output.writeJSONArray(values) { try output.write(contentsOf: $0) }
    try output.write(contentsOf: Array("\n".utf8))
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
