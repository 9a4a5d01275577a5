import EncoursPostgres
import EncoursTestSupport
import Foundation
import Testing

@Suite("what an operator sees at a terminal")
struct TerminalTests {
    /// Runs `encours ARGUMENTS` under `script`, so its standard error is a terminal; returns what the terminal got.
    func onTerminal(_ arguments: [String], environment: [String: String]) async throws -> String {
        let command = ([Binaries.directory.appending(path: "encours").path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let exports = environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let result = try await Binaries.runSystem("/usr/bin/script", ["-qec", "env \(exports) \(command)", "/dev/null"])
        #expect(result.status == 0, "\(result.stdout)")
        return result.stdout
    }

    @Test("progress lines for imports and enqueue --count on a terminal only, never in a pipe or with --json; --version names the commit")
    func progressAndVersion() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            let terminal = try await onTerminal(["enqueue", "noop", "--tenant", "acme", "--count", "250000"], environment: environment)
            #expect(terminal.contains("enqueueing noop: 100,000 jobs"), "\(terminal)")
            #expect(terminal.contains("jobs/s"))
            #expect(terminal.contains("\u{1B}[K"), "the line is redrawn in place and cleared")
            #expect(terminal.contains("enqueued 250000 noop jobs for acme"))
            let piped = try await Binaries.run("encours", ["enqueue", "noop", "--tenant", "acme", "--count", "250000"], environment: environment)
            #expect(piped.status == 0 && piped.stderr.isEmpty, "\(piped.stderr)")

            let customers = "customer_id,name\n" + (1...45_000).map { "C\($0),Client \($0)\n" }.joined()
            let file = try csvFile("many.csv", customers)
            let imported = try await onTerminal(["import", "customers", "--tenant", "acme", file], environment: environment)
            #expect(imported.contains("importing \(file): 20,000 rows"), "\(imported)")
            #expect(imported.contains("imported 45000 customers"))
            let json = try await onTerminal(["import", "customers", "--tenant", "acme", file, "--json"], environment: environment)
            #expect(!json.contains("importing "), "no progress line with --json")

            let version = try await Binaries.run("encours", ["--version"])
            let worker = try await Binaries.run("encours-worker", ["--version"])
            let line = version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(line.range(of: #"^encours \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown)\)$"#, options: .regularExpression) != nil, "\(line)")
            #expect(worker.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == line.replacingOccurrences(of: "encours ", with: "encours-worker "))
            // Built from a checkout: the commit is one of this repository's.
            if let commit = line.split(separator: "commit ").last?.dropLast(), commit != "unknown" {
                let known = try await Binaries.runSystem("/usr/bin/git", ["-C", FileManager.default.currentDirectoryPath, "cat-file", "-e", "\(commit)^{commit}"])
                #expect(known.status == 0, "commit \(commit) is not in this repository")
            }
        }
    }
}
