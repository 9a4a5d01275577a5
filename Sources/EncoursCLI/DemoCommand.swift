import ArgumentParser
import EncoursDemo
import EncoursRuntime
import Foundation

/// `encours demo`: the whole product on a throwaway database, in a few minutes.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a French SME's receivables through real workers: dunning, risk, disputes; print what happened.",
        discussion: """
            Without --database-url (the environment's ENCOURS_DATABASE_URL is ignored, so the demo never writes \
            into your database by accident) it starts a throwaway PostgreSQL cluster from the installed server \
            (as the postgres user when run as root) and deletes it at the end. Letters go to --outbox.
            """)

    @Option(name: .customLong("database-url"), help: "Run on this (fresh) database instead of a throwaway cluster.")
    var databaseURL: String?
    @Option(help: "Customers of the demo tenant (10 to 5,000).") var customers = 300
    @Option(help: "Worker processes (1 to 8).") var workers = 2
    @Option(help: "Where the letters and the workers' logs go.") var outbox = "encours-demo-outbox"

    func validate() throws {
        guard (10...5_000).contains(customers) else { throw ValidationError("--customers \(customers) is out of range: use 10 to 5000") }
        guard (1...8).contains(workers) else { throw ValidationError("--workers \(workers) is out of range: use 1 to 8") }
    }

    func run() async throws {
        let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() ?? URL(fileURLWithPath: CommandLine.arguments[0])
        let workerPath = executable.deletingLastPathComponent().appending(path: "encours-worker").path
        guard FileManager.default.isExecutableFile(atPath: workerPath) else {
            fail(DemoError("encours-worker is not next to encours (\(workerPath)): build both with swift build -c release"))
        }
        let configuration = DemoConfiguration(
            databaseURL: databaseURL, customers: customers, workers: workers, outboxDirectory: outbox, workerPath: workerPath,
            smtpURL: ProcessInfo.processInfo.environment["ENCOURS_SMTP_URL"].flatMap { $0.isEmpty ? nil : $0 })
        do {
            // SIGINT/SIGTERM: the workers are stopped and the throwaway cluster deleted before exiting.
            let summary = try await Interruption.cancelOnSignal {
                try await Demo.run(configuration) { line in
                    FileHandle.standardError.write(Data("encours demo: \(line)\n".utf8))
                }
            }
            print(summary.text())
        } catch {
            fail(error)
        }
    }
}
