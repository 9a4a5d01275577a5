import Testing
@testable import EncoursLedger

/// One test per rule of the invoices file (SPEC §4), asserting the exact message and line.
@Suite("Import: invoices rules")
struct ImportInvoiceRulesTests {
    private let header = "invoice_id;customer_id;issue_date;due_date;amount;currency;kind;applies_to\n"

    /// Parses the header, a good invoice on line 2, then `row` on line 3.
    private func messages(_ row: String) throws -> [String] {
        let parsed = try parseCSV(.invoices, header + "F0;C1;01/01/2025;31/01/2025;100,00;;;\n" + row + "\n")
        #expect(parsed.invoices.first?.invoiceID == "F0")
        return parsed.messages
    }

    @Test("the brief's example: invoices.csv:14: amount: not a number (\"12,3,4\")")
    func amountNotANumberOnLine14() throws {
        var csv = header
        for index in 2...13 {
            csv += "F\(index);C1;01/01/2025;31/01/2025;\"1 234,56\";;;\n"
        }
        csv += "F14;C1;01/01/2025;31/01/2025;\"12,3,4\";;;\n"
        let parsed = try parseCSV(.invoices, csv)
        #expect(parsed.messages == ["invoices.csv:14: amount: not a number (\"12,3,4\")"])
        #expect(parsed.summary.issues.listed.first?.code == .invalidAmount)
        #expect(parsed.summary.issues.listed.first?.field == "amount")
        #expect(parsed.invoices.count == 12)
    }

    @Test("required columns need values")
    func requiredValues() throws {
        #expect(try messages(";;;;;EUR;;") == [
            "invoices.csv:3: invoice_id: required value is missing",
            "invoices.csv:3: customer_id: required value is missing",
            "invoices.csv:3: issue_date: required value is missing",
            "invoices.csv:3: due_date: required value is missing",
            "invoices.csv:3: amount: required value is missing",
        ])
    }

    @Test("amount must be greater than zero")
    func amountPositive() throws {
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;0,00;;;") == [
            "invoices.csv:3: amount: must be greater than zero (\"0,00\")",
        ])
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;-12,50;;;") == [
            "invoices.csv:3: amount: must be greater than zero (\"-12,50\")",
        ])
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;0,004;;;") == [
            "invoices.csv:3: amount: must be greater than zero (\"0,004\")",
        ])
    }

    @Test("a huge amount is an error, not an overflow")
    func amountTooLarge() throws {
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;999 999 999 999 999 999,00;;;") == [
            // The same limit as just below the integer range: the documented one of a row.
            "invoices.csv:3: amount: too large: the most one row may hold is 1000000000000.00 (\"999 999 999 999 999 999,00\")",
        ])
    }

    @Test("a date that does not exist")
    func nonexistentDate() throws {
        #expect(try messages("F1;C1;31/02/2025;31/03/2025;10;;;") == [
            "invoices.csv:3: issue_date: no such date (\"31/02/2025\")",
        ])
        #expect(try messages("F1;C1;29/02/2025;31/03/2025;10;;;") == [
            "invoices.csv:3: issue_date: no such date (\"29/02/2025\")",
        ])
    }

    @Test("a date in another form")
    func malformedDate() throws {
        #expect(try messages("F1;C1;2025/01/15;31/03/2025;10;;;") == [
            "invoices.csv:3: issue_date: not a date (expected YYYY-MM-DD or DD/MM/YYYY) (\"2025/01/15\")",
        ])
    }

    @Test("a year outside 1900–2999 is taken for a typo")
    func implausibleYear() throws {
        #expect(try messages("F1;C1;15/01/0225;31/03/2025;10;;;") == [
            "invoices.csv:3: issue_date: year outside 1900–2999 (\"15/01/0225\")",
        ])
    }

    @Test("due_date is not before issue_date")
    func dueBeforeIssue() throws {
        #expect(try messages("F1;C1;01/03/2025;01/02/2025;10;;;") == [
            "invoices.csv:3: due_date: is before issue_date (2025-03-01) (\"01/02/2025\")",
        ])
        let sameDay = try parseCSV(.invoices, header + "F1;C1;2025-03-01;01/03/2025;10;;;\n")
        #expect(sameDay.invoices.count == 1)
    }

    @Test("currency defaults to the tenant's and is read in any case")
    func currency() throws {
        let parsed = try parseCSV(.invoices, header + "F1;C1;2025-01-01;2025-01-31;10;;;\nF2;C1;2025-01-01;2025-01-31;10;usd;;\n", currency: .chf)
        #expect(parsed.invoices.map(\.amount.currency) == [.chf, .usd])
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;10;EURO;;") == [
            "invoices.csv:3: currency: not a currency code (three letters such as EUR) (\"EURO\")",
        ])
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;10;€;;") == [
            "invoices.csv:3: currency: not a currency code (three letters such as EUR) (\"€\")",
        ])
    }

    @Test("kind is invoice or credit_note")
    func kindValues() throws {
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;10;;avoir;") == [
            "invoices.csv:3: kind: must be invoice or credit_note (\"avoir\")",
        ])
    }

    @Test("a credit note names the invoice it reduces in applies_to")
    func creditNoteNeedsAppliesTo() throws {
        #expect(try messages("AV1;C1;01/02/2025;01/02/2025;10;;credit_note;") == [
            "invoices.csv:3: applies_to: required for a credit note: the invoice it reduces",
        ])
        let withoutColumn = try parseCSV(.invoices, "invoice_id;customer_id;issue_date;due_date;amount;kind\nAV1;C1;2025-02-01;2025-02-01;10;credit_note\n")
        #expect(withoutColumn.messages == ["invoices.csv:2: applies_to: required for a credit note: the invoice it reduces"])
    }

    @Test("an invoice has no applies_to")
    func invoiceWithAppliesTo() throws {
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;10;;invoice;F0") == [
            "invoices.csv:3: applies_to: only a credit note applies to another invoice (kind is invoice) (\"F0\")",
        ])
        #expect(try messages("F1;C1;01/01/2025;31/01/2025;10;;;F0") == [
            "invoices.csv:3: applies_to: only a credit note applies to another invoice (kind is invoice) (\"F0\")",
        ])
    }

    @Test("a credit note cannot apply to itself")
    func creditNoteAppliesToItself() throws {
        #expect(try messages("AV1;C1;01/02/2025;01/02/2025;10;;credit_note;AV1") == [
            "invoices.csv:3: applies_to: a credit note cannot apply to itself (\"AV1\")",
        ])
    }

    @Test("a credit note's amount is positive, and the message says so")
    func creditNoteNegativeAmount() throws {
        #expect(try messages("AV1;C1;01/02/2025;01/02/2025;-10;;credit_note;F0") == [
            "invoices.csv:3: amount: must be greater than zero (a credit note's amount is positive) (\"-10\")",
        ])
    }

    @Test("a valid credit note")
    func validCreditNote() throws {
        let parsed = try parseCSV(.invoices, header + "AV1;C1;01/02/2025;01/02/2025;25,50;;CREDIT_NOTE;F0\n")
        #expect(parsed.invoices.map(\.kind) == [.creditNote(appliesTo: "F0")])
        #expect(parsed.invoices.first?.kind.name == "credit_note")
        #expect(parsed.invoices.first?.kind.appliesTo == "F0")
        #expect(parsed.invoices.first?.amount == Money(cents: 2550, currency: .eur))
    }

    @Test("an invoice_id repeated in the file names both lines, even far apart")
    func duplicateInvoice() throws {
        var csv = header
        for index in 1...5 {
            csv += "F-2025-00\(index);C1;01/01/2025;31/01/2025;10;;;\n"
        }
        csv += "F-2025-001;C2;01/01/2025;31/01/2025;99;;;\n"
        let parsed = try parseCSV(.invoices, csv)
        #expect(parsed.messages == ["invoices.csv:7: invoice_id: duplicate of line 2 (\"F-2025-001\")"])
        #expect(parsed.summary.issues.listed.first?.code == .duplicateID)
        #expect(parsed.invoices.count == 5)
    }

    @Test("ids are compared exactly: case matters, surrounding spaces do not")
    func idComparison() throws {
        let distinct = try parseCSV(.invoices, header + "f1;C1;01/01/2025;31/01/2025;10;;;\nF1;C1;01/01/2025;31/01/2025;10;;;\n")
        #expect(distinct.messages == [])
        let trimmed = try parseCSV(.invoices, header + "F1;C1;01/01/2025;31/01/2025;10;;;\n\u{00A0}F1 ;C1;01/01/2025;31/01/2025;10;;;\n")
        #expect(trimmed.messages == ["invoices.csv:3: invoice_id: duplicate of line 2 (\"F1\")"])
    }
}
