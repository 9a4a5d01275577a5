import EncoursPostgres
import EncoursTestSupport
import Foundation
import Testing

@Suite("encours demo")
struct DemoCLITests {
    func outbox() -> String {
        FileManager.default.temporaryDirectory.appending(path: "demo-outbox-\(UUID().uuidString.prefix(8))").path
    }

    /// The throwaway clusters the demo leaves in /tmp (none, once it has ended).
    func clusters() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("encours-demo-pg.") })
    }

    @Test("with no database: a throwaway cluster, real workers, letters in the outbox, a readable summary, everything stopped")
    func throwawayCluster() async throws {
        let letters = outbox()
        let before = clusters()
        let result = try await Binaries.run(
            "encours", ["demo", "--customers", "60", "--outbox", letters], environment: ["ENCOURS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = result.stdout
        #expect(summary.contains("Atelier Dupont SAS"))
        #expect(summary.contains("Ledger: 60 customers"))
        #expect(summary.contains("Dunning: 4 runs"))
        #expect(summary.contains("formal notice (mise en demeure), interest "), "\(summary)")
        #expect(summary.contains("Credit risk: "))
        #expect(summary.contains("Queue: "))
        #expect(result.stderr.contains("stopped and deleted the throwaway cluster"))
        #expect(result.stderr.contains("stopped the workers (exit 0, 0)"))
        // As many letters on disk as the summary counts, each a printable reminder.
        let written = try FileManager.default.contentsOfDirectory(atPath: letters + "/demo").filter { $0.hasSuffix(".html") }
        let line = try #require(summary.split(separator: "\n").first { $0.contains("letters written to") })
        #expect(Int(line.trimmingCharacters(in: .whitespaces).split(separator: " ")[0]) == written.count)
        #expect(written.count > 20)
        let letter = try String(contentsOfFile: letters + "/demo/" + written.sorted()[0], encoding: .utf8)
        #expect(letter.contains("Atelier Dupont SAS") && letter.contains("€"))
        // The reminder counts per level add up to the letters.
        let counts = summary.split(separator: "\n").filter { $0.hasPrefix("  1 ") || $0.hasPrefix("  2 ") || $0.hasPrefix("  3 ") || $0.hasPrefix("  4 ") }
            .compactMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) }
        #expect(counts.count == 4 && counts.reduce(0, +) == written.count, "\(counts)")
        #expect(clusters() == before, "the throwaway cluster is deleted")
    }

    @Test("on a given database: runs there once; a second run is refused with one line and changes nothing")
    func givenDatabase() async throws {
        try await TestDatabase.with { database in
            let letters = outbox()
            let first = try await Binaries.run("encours", ["demo", "--customers", "20", "--workers", "1", "--outbox", letters, "--database-url", database.url])
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stdout.contains("Ledger: 20 customers"))
            let invoices = try await database.integer("SELECT count(*) FROM encours.invoices")
            let second = try await Binaries.run("encours", ["demo", "--customers", "20", "--outbox", letters, "--database-url", database.url])
            #expect(second.status == 1)
            #expect(second.stderr.contains("already has a tenant \"demo\""), "\(second.stderr)")
            #expect(second.stderr.split(separator: "\n").filter { !$0.hasPrefix("encours demo: ") }.count == 1, "\(second.stderr)")
            #expect(try await database.integer("SELECT count(*) FROM encours.invoices") == invoices)
            let refused = try await Binaries.run("encours", ["demo", "--customers", "5"])
            #expect(refused.status != 0 && refused.stderr.contains("--customers 5 is out of range"), "\(refused.stderr)")
        }
    }
}
