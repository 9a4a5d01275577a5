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

    @Test("--log-format json: every line a job logs carries its tenant, job id and kind")
    func jobMetadataOnEveryLine() async throws {
        try await TestDatabase.with { database in
            let tenantID = try await makeTenant(database, "acme")
            let outbox = FileManager.default.temporaryDirectory.appending(path: "outbox-\(UUID().uuidString.prefix(8))").path
            let environment = ["ENCOURS_DATABASE_URL": database.url, "ENCOURS_OUTBOX_DIR": outbox]
            let customers = try csvFile("c.csv", "customer_id,name\nC1,Un\nC2,Deux\n")
            let invoices = try csvFile("i.csv", "invoice_id,customer_id,issue_date,due_date,amount\nF1,C1,2025-03-01,2025-03-31,100.00\nF2,C2,2025-03-01,2025-03-31,200.00\n")
            for (kind, file) in [("customers", customers), ("invoices", invoices)] {
                #expect(try await Binaries.run("encours", ["import", kind, "--tenant", "acme", file], environment: environment).status == 0)
            }
            #expect(try await Binaries.run("encours", ["dunning", "run", "--tenant", "acme", "--as-of", "2025-04-05"], environment: environment).status == 0)
            let worker = try await Binaries.run(
                "encours-worker", ["--drain", "--log-format", "json", "--log-level", "debug"], environment: environment)
            #expect(worker.status == 0, "\(worker.stderr)")
            let records = worker.stderr.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(records.count == worker.stderr.split(separator: "\n").count, "every line is JSON")
            // The lines a job's handler writes: its tenant, id and kind on each.
            let jobLines = records.filter { $0["job.id"] != nil }
            let messages = Set(jobLines.compactMap { $0["msg"] as? String })
            #expect(messages.contains("dunning run recorded") && messages.contains("letter written"), "\(messages)")
            for line in jobLines {
                #expect(line["tenant.id"] as? String == "\(tenantID)", "\(line)")
                #expect(["dunning.run", "reminder.deliver", "risk.recalc"].contains(line["job.kind"] as? String ?? ""), "\(line)")
            }
            let letters = jobLines.filter { $0["msg"] as? String == "letter written" }
            #expect(letters.count == 2 && letters.allSatisfy { $0["job.kind"] as? String == "reminder.deliver" && $0["reminder.id"] != nil })
        }
    }
}
