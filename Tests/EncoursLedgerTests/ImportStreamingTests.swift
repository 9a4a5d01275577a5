import Foundation
import Testing
@testable import EncoursLedger

/// A large file read from disk, one row at a time (no timing: unit tests do not measure speed).
@Suite("Import: streaming a large file")
struct ImportStreamingTests {
    @Test("200,000 invoices written to a temporary file are all read, with their physical lines")
    func twoHundredThousandInvoices() throws {
        let rowCount = 200_000
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("encours-ledger-\(UUID().uuidString)-invoices.csv")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            Issue.record("cannot create \(url.path)")
            return
        }
        defer { try? FileManager.default.removeItem(at: url) }

        // A Sage-like export: BOM, CRLF, ';', decimal commas with NBSP thousands, French dates, and
        // every 1,000th row an ignored "libelle" column quoted over two lines.
        let handle = try FileHandle(forWritingTo: url)
        var chunk = "\u{FEFF}invoice_id;customer_id;issue_date;due_date;amount;libelle\r\n"
        var expectedCents: Int64 = 0
        var extraLines = 0
        for index in 1...rowCount {
            let cents = Int64(index % 997) * 100_000 + Int64(index % 100) + 1
            expectedCents += cents
            let euros = cents / 100
            let amount = euros >= 1000
                ? "\(euros / 1000)\u{00A0}\(String(euros % 1000).leftPadded(to: 3)),\(String(cents % 100).leftPadded(to: 2))"
                : "\(euros),\(String(cents % 100).leftPadded(to: 2))"
            let label = index % 1000 == 0 ? "\"Prestations; lot \(index)\r\nsuite\"" : "Prestations"
            if index % 1000 == 0 { extraLines += 1 }
            chunk += "FA-\(index);C-\(index % 5000);15/01/2025;2025-02-14;\(amount);\(label)\r\n"
            if chunk.utf8.count > 1 << 20 {
                try handle.write(contentsOf: Data(chunk.utf8))
                chunk = ""
            }
        }
        try handle.write(contentsOf: Data(chunk.utf8))
        try handle.close()

        let parser = ImportParser(kind: .invoices, fileName: "invoices.csv", defaultCurrency: .eur)
        var count = 0
        var totalCents: Int64 = 0
        var lastLine = 0
        var linesIncrease = true
        let summary = try parser.parse(contentsOf: url) { row in
            guard case .invoice(let invoice) = row else { return }
            count += 1
            totalCents += invoice.amount.cents
            linesIncrease = linesIncrease && invoice.line > lastLine
            lastLine = invoice.line
        }
        #expect(summary.issues.listed.map(\.description) == [])
        #expect(summary.readWholeFile)
        #expect(summary.recordCount == rowCount)
        #expect(summary.validRowCount == rowCount)
        #expect(count == rowCount)
        #expect(totalCents == expectedCents)
        #expect(linesIncrease)
        #expect(extraLines == rowCount / 1000)
        // Header on line 1, one line per row, one more for each quoted line break before the last row.
        #expect(lastLine == 1 + rowCount + extraLines - 1)
    }
}

private extension String {
    /// The string with leading zeros up to `width` characters.
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
