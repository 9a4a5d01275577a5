import Foundation
import Testing
@testable import EncoursLedger

/// Whole files the way French ERPs export them, and the file-level rules (encoding, header, quotes, limits).
@Suite("Import: file format")
struct ImportFileFormatTests {
    @Test("a Sage-style invoices export: BOM, CRLF, ';', decimal commas, NBSP thousands, DD/MM/YYYY, accents")
    func sageInvoices() throws {
        let csv = "\u{FEFF}N° pièce;invoice_id;customer_id;issue_date;due_date;amount;currency;Libellé\r\n"
            + "VT;FA-2025-0001;C-SOCGEN;15/01/2025;14/02/2025;1\u{00A0}234,56;EUR;Société Générale – prestations\r\n"
            + "VT;FA-2025-0002;C-OEUVRES;31/01/2025;02/03/2025;\"12\u{202F}500,00\";;\"Œuvres sociales; acompte\"\r\n"
            + "VT;FA-2025-0003;C-DUPONT;2025-02-03;2025-03-05;89,9;eur;\"Dupont; Fils & Cie\"\r\n"
        let parsed = try parseCSV(.invoices, csv)
        #expect(parsed.messages == [])
        #expect(parsed.summary.isValid && parsed.summary.readWholeFile)
        #expect(parsed.summary.delimiter == ";")
        #expect(parsed.summary.columns == [.invoiceID, .customerID, .issueDate, .dueDate, .amount, .currency])
        #expect(parsed.summary.ignoredColumns == ["N° pièce", "Libellé"])
        #expect(parsed.invoices == [
            InvoiceRow(
                line: 2, invoiceID: "FA-2025-0001", customerID: "C-SOCGEN", issueDate: day("2025-01-15"),
                dueDate: day("2025-02-14"), amount: Money(cents: 123_456, currency: .eur), kind: .invoice),
            InvoiceRow(
                line: 3, invoiceID: "FA-2025-0002", customerID: "C-OEUVRES", issueDate: day("2025-01-31"),
                dueDate: day("2025-03-02"), amount: Money(cents: 1_250_000, currency: .eur), kind: .invoice),
            InvoiceRow(
                line: 4, invoiceID: "FA-2025-0003", customerID: "C-DUPONT", issueDate: day("2025-02-03"),
                dueDate: day("2025-03-05"), amount: Money(cents: 8990, currency: .eur), kind: .invoice),
        ])
    }

    @Test("a Cegid-style customers export: ',' delimiter, quoted names with commas and doubled quotes")
    func cegidCustomers() throws {
        let csv = """
            Customer_ID,Name,Email,Language,Payment_Terms_Days,Credit_Limit,Policy,On_Hold
            C001,"Dupont, Fils & Cie",compta@dupont.fr,fr,30,"15,000.00",standard,false
            C002,"Les ""Œuvres"" du Marais",,EN,45,"1.500,00",,OUI
            C003,Société Générale,,,,,,

            """
        let parsed = try parseCSV(.customers, csv)
        #expect(parsed.messages == [])
        #expect(parsed.summary.delimiter == ",")
        #expect(parsed.customers == [
            CustomerRow(
                line: 2, customerID: "C001", name: "Dupont, Fils & Cie", email: "compta@dupont.fr", language: .fr,
                paymentTermsDays: 30, creditLimit: Money(cents: 1_500_000, currency: .eur), policy: "standard",
                onHold: false),
            CustomerRow(
                line: 3, customerID: "C002", name: "Les \"Œuvres\" du Marais", email: nil, language: .en,
                paymentTermsDays: 45, creditLimit: Money(cents: 150_000, currency: .eur), policy: nil, onHold: true),
            CustomerRow(
                line: 4, customerID: "C003", name: "Société Générale", email: nil, language: .fr,
                paymentTermsDays: nil, creditLimit: nil, policy: nil, onHold: false),
        ])
    }

    @Test("an EBP-style payments export: columns in another order, padded and uppercase header names")
    func ebpPayments() throws {
        let csv = " AMOUNT ; Received_On ;Journal;PAYMENT_ID;customer_id;invoice_id\n"
            + "\"1 000,00\";03/02/2025;BQ1;REG-001;C001;FA-2025-0001\n"
            + "250;2025-02-04;BQ1;REG-002;C002;\n"
        let parsed = try parseCSV(.payments, csv, currency: .chf)
        #expect(parsed.messages == [])
        #expect(parsed.summary.ignoredColumns == ["Journal"])
        #expect(parsed.payments == [
            PaymentRow(
                line: 2, paymentID: "REG-001", customerID: "C001", receivedOn: day("2025-02-03"),
                amount: Money(cents: 100_000, currency: .chf), invoiceID: "FA-2025-0001"),
            PaymentRow(
                line: 3, paymentID: "REG-002", customerID: "C002", receivedOn: day("2025-02-04"),
                amount: Money(cents: 25_000, currency: .chf), invoiceID: nil),
        ])
    }

    @Test("line numbers are physical: a quoted line break moves the following rows down")
    func quotedLineBreaksCountAsLines() throws {
        let csv = "dispute_id;invoice_id;reason;opened_on;note\r\n"
            + "D1;FA-1;quantity;2025-02-01;\"Livraison incomplète :\r\nil manque 2 palettes\"\r\n"
            + "D2;FA-2;prix;2025-02-02;\"Prix\nnon conforme\nau devis\"\r\n"
            + "D3;FA-3;Qualité;31/02/2025;\r\n"
        let parsed = try parseCSV(.disputes, csv)
        #expect(parsed.disputes.map(\.line) == [2, 4])
        #expect(parsed.disputes.first?.note == "Livraison incomplète :\r\nil manque 2 palettes")
        #expect(parsed.disputes.map(\.reason) == [.quantity, .pricing])
        #expect(parsed.messages == ["disputes.csv:7: opened_on: no such date (\"31/02/2025\")"])
    }

    @Test("old Mac line ends (a lone CR) end rows too")
    func loneCarriageReturns() throws {
        let csv = "invoice_id;customer_id;issue_date;due_date;amount\rF1;C1;2025-01-01;2025-01-31;10\rF2;C1;2025-01-01;2025-01-31;x\r"
        let parsed = try parseCSV(.invoices, csv)
        #expect(parsed.invoices.map(\.invoiceID) == ["F1"])
        #expect(parsed.messages == ["invoices.csv:3: amount: not a number (\"x\")"])
    }

    @Test("blank lines and spreadsheet rows of bare delimiters are skipped; the last line needs no line end")
    func blankRowsAreSkipped() throws {
        let csv = "invoice_id;customer_id;issue_date;due_date;amount\n\nF1;C1;2025-01-01;2025-01-31;10\n;;;;\n  ; ;\u{00A0};;\nF2;C1;2025-01-01;2025-01-31;20"
        let parsed = try parseCSV(.invoices, csv)
        #expect(parsed.messages == [])
        #expect(parsed.invoices.map(\.line) == [3, 6])
        #expect(parsed.summary.recordCount == 2)
    }

    @Test("a header without rows is a valid file that imports nothing")
    func headerOnly() throws {
        let parsed = try parseCSV(.payments, "payment_id;customer_id;received_on;amount\r\n")
        #expect(parsed.summary.isValid)
        #expect(parsed.summary.readWholeFile)
        #expect(parsed.summary.recordCount == 0)
        #expect(parsed.rows.isEmpty)
    }

    @Test("an empty file, or one with only a byte order mark, is an error", arguments: [[], [0xEF, 0xBB, 0xBF]] as [[UInt8]])
    func emptyFile(bytes: [UInt8]) throws {
        let parsed = try parseCSV(.invoices, bytes: bytes)
        #expect(parsed.messages == [
            "invoices.csv: file is empty; expected a header row such as invoice_id;customer_id;issue_date;due_date;amount",
        ])
        #expect(parsed.summary.issues.listed.first?.code == .emptyFile)
        #expect(!parsed.summary.isValid)
    }

    @Test("a first line that is blank is not a header")
    func blankHeader() throws {
        let parsed = try parseCSV(.customers, "\ncustomer_id;name\nC1;Dupont\n")
        #expect(parsed.summary.issues.listed.map(\.code) == [.unrecognizedHeader])
        #expect(parsed.messages.first?.hasPrefix("customers.csv:1: line 1 is empty") == true)
        #expect(parsed.rows.isEmpty)
    }

    @Test("a Windows-1252 export is refused at the line of its first accented byte")
    func latin1IsRefused() throws {
        var bytes = Array("customer_id;name\r\nC1;Dupont SA\r\nC2;Soci".utf8)
        bytes += [0xE9, 0x74, 0xE9] + Array(" G".utf8) + [0xE9] + Array("n\u{E9}rale\r\nC3;Autre\r\n".utf8)
        let parsed = try parseCSV(.customers, bytes: bytes)
        #expect(parsed.messages == [
            "customers.csv:3: not UTF-8 (byte 0xE9); export the file as \"CSV UTF-8\" (Windows-1252 and Latin-1 are not accepted)",
        ])
        #expect(parsed.summary.issues.listed.first?.code == .notUTF8)
        #expect(!parsed.summary.readWholeFile)
        #expect(parsed.customers.map(\.customerID) == ["C1"])
    }

    @Test("a bad byte inside a multi-line quoted field is reported on its own physical line")
    func invalidByteInQuotedField() throws {
        var bytes = Array("dispute_id;invoice_id;opened_on;reason\nD1;F1;2025-01-01;\"Ligne un\nligne deux\n".utf8)
        bytes += [0x92] + Array("trois\"\n".utf8)  // a Windows-1252 apostrophe
        let parsed = try parseCSV(.disputes, bytes: bytes)
        #expect(parsed.summary.issues.listed.map(\.line) == [4])
        #expect(parsed.summary.issues.listed.map(\.code) == [.notUTF8])
    }

    @Test("a non-UTF-8 header is refused on line 1; overlong and truncated sequences are refused too")
    func invalidUTF8Variants() throws {
        let header = try parseCSV(.customers, bytes: Array("customer_id;nom_soci".utf8) + [0xE9] + Array(";name\n".utf8))
        #expect(header.summary.issues.listed.map(\.line) == [1])
        let overlong = try parseCSV(.customers, bytes: Array("customer_id;name\nC1;A".utf8) + [0xC0, 0xAF] + [0x0A])
        #expect(overlong.summary.issues.listed.map(\.code) == [.notUTF8])
        let truncated = try parseCSV(.customers, bytes: Array("customer_id;name\nC1;A".utf8) + [0xE2, 0x82])
        #expect(truncated.summary.issues.listed.map(\.code) == [.notUTF8])
        let surrogate = try parseCSV(.customers, bytes: Array("customer_id;name\nC1;A".utf8) + [0xED, 0xA0, 0x80])
        #expect(surrogate.summary.issues.listed.map(\.code) == [.notUTF8])
    }

    @Test("a UTF-16 file is refused with a hint, with or without its byte order mark")
    func utf16IsRefused() throws {
        let text = "customer_id;name\nC1;Dupont\n"
        let withBOM = try parseCSV(.customers, bytes: [0xFF, 0xFE] + text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        #expect(withBOM.messages == ["customers.csv:1: the file is UTF-16, not UTF-8: export it as \"CSV UTF-8\""])
        let withoutBOM = try parseCSV(.customers, bytes: text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        #expect(withoutBOM.summary.issues.listed.map(\.code) == [.notUTF8])
        #expect(withoutBOM.messages.first?.contains("UTF-16") == true)
    }

    @Test("a 10 MB line stops the reading with a clear error instead of growing memory")
    func tenMegabyteLine() throws {
        var bytes = Array("invoice_id;customer_id;issue_date;due_date;amount\nF1;C1;2025-01-01;2025-01-31;10\n".utf8)
        bytes += Array("F2;C1;2025-01-01;2025-01-31;".utf8) + [UInt8](repeating: UInt8(ascii: "9"), count: 10_000_000)
        bytes += Array("\nF3;C1;2025-01-01;2025-01-31;10\n".utf8)
        let parsed = try parseCSV(.invoices, bytes: bytes)
        #expect(parsed.messages == ["invoices.csv:3: row longer than 1 MiB (1048576 bytes)"])
        #expect(parsed.summary.issues.listed.first?.code == .rowTooLong)
        #expect(!parsed.summary.readWholeFile)
        #expect(parsed.invoices.map(\.invoiceID) == ["F1"])
    }

    @Test("a row made only of delimiters is limited too")
    func delimitersOnlyRow() throws {
        let csv = "customer_id;name\n" + String(repeating: ";", count: 5000) + "\n"
        let parsed = try parseCSV(.customers, csv, maximumRowBytes: 1024)
        #expect(parsed.messages == ["customers.csv:2: row longer than 1024 bytes"])
    }

    @Test("a quote never closed is reported at the line where it opens")
    func unclosedQuote() throws {
        let csv = "customer_id;name\nC1;Dupont\nC2;\"Martin & Fils;\nC3;Durand\n"
        let parsed = try parseCSV(.customers, csv)
        #expect(parsed.messages == ["customers.csv:3: a quote opened on this line is never closed"])
        #expect(parsed.summary.issues.listed.first?.code == .malformedQuotes)
        #expect(parsed.customers.map(\.customerID) == ["C1"])
    }

    @Test("an unclosed quote in a big file hits the row limit and says which quote")
    func unclosedQuoteInBigFile() throws {
        var csv = "customer_id;name\nC0;\"Dupont\n"
        for index in 1...200 {
            csv += "C\(index);Client numéro \(index)\n"
        }
        let parsed = try parseCSV(.customers, csv, maximumRowBytes: 2048)
        #expect(parsed.messages == [
            "customers.csv:2: row longer than 2048 bytes: is the quote opened on line 2 ever closed?",
        ])
    }

    @Test("text after a closing quote is refused; spaces around a quoted field are allowed")
    func textAfterClosingQuote() throws {
        let bad = try parseCSV(.customers, "customer_id;name\nC1;\"Dupont\" SA\n")
        #expect(bad.messages == [
            "customers.csv:2: unexpected character after a closing quote (a quote inside a quoted field is written \"\")",
        ])
        let spaced = try parseCSV(.customers, "customer_id;name\nC1;\"Dupont SA\"  \nC2 ; \"Martin\" \n")
        #expect(spaced.messages == [])
        #expect(spaced.customers.map(\.name) == ["Dupont SA", "Martin"])
    }

    @Test("a quote inside an unquoted field is an ordinary character")
    func quoteInsideUnquotedField() throws {
        let parsed = try parseCSV(.customers, "customer_id;name\nC1;Écran 27\" Dupont\n")
        #expect(parsed.customers.map(\.name) == ["Écran 27\" Dupont"])
    }

    @Test("a row with too many or too few fields names both counts")
    func wrongFieldCount() throws {
        let csv = "invoice_id;customer_id;issue_date;due_date;amount\nF1;C1;2025-01-01;2025-01-31\nF2;C1;2025-01-01;2025-01-31;10;extra\n"
        let parsed = try parseCSV(.invoices, csv)
        #expect(parsed.messages == [
            "invoices.csv:2: row has 4 fields but the header has 5",
            "invoices.csv:3: row has 6 fields but the header has 5 (a value containing \";\" must be quoted)",
        ])
        #expect(parsed.summary.issues.listed.map(\.code) == [.wrongFieldCount, .wrongFieldCount])
    }

    @Test("with ',' as delimiter, an unquoted decimal comma gets a hint")
    func unquotedDecimalCommaWithCommaDelimiter() throws {
        let csv = "invoice_id,customer_id,issue_date,due_date,amount\nF1,C1,2025-01-01,2025-01-31,1234,56\n"
        let parsed = try parseCSV(.invoices, csv)
        #expect(parsed.messages == [
            "invoices.csv:2: row has 6 fields but the header has 5 (an amount with a decimal comma must be quoted when the delimiter is \",\")",
        ])
    }

    @Test("the delimiter is the one that splits the header into known columns")
    func delimiterDetection() throws {
        // A ',' file whose ignored column name contains ';' inside quotes.
        let comma = try parseCSV(.payments, "payment_id,\"notes; internes\",customer_id,received_on,amount\nP1,x,C1,2025-01-01,5\n")
        #expect(comma.summary.delimiter == ",")
        #expect(comma.payments.map(\.paymentID) == ["P1"])
        // A ';' file whose ignored column name contains ','.
        let semicolon = try parseCSV(.payments, "Référence, libellé;payment_id;customer_id;received_on;amount\nx;P1;C1;2025-01-01;5,5\n")
        #expect(semicolon.summary.delimiter == ";")
        #expect(semicolon.payments.map(\.amount.cents) == [550])
        // Quoted header names.
        let quoted = try parseCSV(.payments, "\"payment_id\";\"customer_id\";\"received_on\";\"amount\"\n\"P1\";\"C1\";\"2025-01-01\";\"5,5\"\n")
        #expect(quoted.summary.delimiter == ";")
        #expect(quoted.payments.count == 1)
    }

    @Test("a header that names no known column is refused with what was expected")
    func unrecognizedHeader() throws {
        let parsed = try parseCSV(.invoices, "numero\tclient\tmontant\nF1\tC1\t10\n")
        #expect(parsed.messages == [
            "invoices.csv:1: header row names none of the invoices columns (expected invoice_id, customer_id, issue_date, due_date, amount, separated by \";\" or \",\") (\"numero\\tclient\\tmontant\")",
        ])
        #expect(parsed.summary.delimiter == nil)
        #expect(parsed.rows.isEmpty)
    }

    @Test("each missing required column is named")
    func missingColumns() throws {
        let parsed = try parseCSV(.invoices, "invoice_id;customer_id;issue_date;montant\nF1;C1;2025-01-01;10\n")
        #expect(parsed.messages == [
            "invoices.csv:1: due_date: required column is missing from the header",
            "invoices.csv:1: amount: required column is missing from the header",
        ])
        #expect(parsed.summary.issues.listed.map(\.code) == [.missingColumn, .missingColumn])
        #expect(parsed.rows.isEmpty)
    }

    @Test("a known column named twice is refused, whatever its case; unknown duplicates are ignored")
    func duplicateColumns() throws {
        let parsed = try parseCSV(.invoices, "invoice_id;customer_id;issue_date;due_date;amount;AMOUNT\nF1;C1;2025-01-01;2025-01-31;10;12\n")
        #expect(parsed.messages == ["invoices.csv:1: amount: column appears twice in the header (columns 5 and 6)"])
        #expect(parsed.summary.issues.listed.map(\.code) == [.duplicateColumn])
        #expect(parsed.rows.isEmpty)
        let unknownTwice = try parseCSV(.customers, "customer_id;note;name;note\nC1;a;Dupont;b\n")
        #expect(unknownTwice.messages == [])
        #expect(unknownTwice.summary.ignoredColumns == ["note", "note"])
    }

    @Test("a column of another kind is ignored (applies_to in a payments file)")
    func otherKindsColumnIsIgnored() throws {
        let parsed = try parseCSV(.payments, "payment_id;customer_id;received_on;amount;applies_to\nP1;C1;2025-01-01;5;F9\n")
        #expect(parsed.summary.ignoredColumns == ["applies_to"])
        #expect(parsed.payments.count == 1)
    }

    @Test("only the first 1,000 issues are listed, all are counted")
    func issueCap() throws {
        var csv = "invoice_id;customer_id;issue_date;due_date;amount\n"
        for index in 1...1500 {
            csv += "F\(index);C1;2025-01-01;2025-01-31;zéro\n"
        }
        let parsed = try parseCSV(.invoices, csv)
        #expect(parsed.summary.issues.listed.count == 1000)
        #expect(parsed.summary.issues.totalCount == 1500)
        #expect(parsed.summary.issues.unlistedCount == 500)
        #expect(parsed.summary.issues.listed.last?.line == 1001)
        #expect(parsed.summary.issues.description.hasSuffix("\n… and 500 more problems (1500 in all)"))
        #expect(parsed.summary.readWholeFile)
    }

    @Test("the caller adds its own database checks in the same format")
    func callerIssues() throws {
        let parsed = try parseCSV(.payments, "payment_id;customer_id;received_on;amount;invoice_id\nP1;C404;2025-01-01;5;F1\n")
        var issues = parsed.summary.issues
        for case .payment(let payment) in parsed.rows {
            issues.append(ImportIssue(
                file: "payments.csv", line: payment.line, field: "customer_id", value: payment.customerID,
                code: .unknownReference, message: "no such customer"))
        }
        #expect(issues.description == "payments.csv:2: customer_id: no such customer (\"C404\")")
        #expect(issues.totalCount == 1)
    }

    @Test("an error thrown by onRow stops the reading and reaches the caller")
    func callbackErrorIsRethrown() throws {
        struct StagingFailed: Error {}
        let parser = ImportParser(kind: .customers, fileName: "customers.csv", defaultCurrency: .eur)
        var seen = 0
        #expect(throws: StagingFailed.self) {
            _ = try parser.parse(data: Data("customer_id;name\nC1;A\nC2;B\nC3;C\n".utf8)) { _ in
                seen += 1
                if seen == 2 { throw StagingFailed() }
            }
        }
        #expect(seen == 2)
    }

    @Test("reading a stream, and a missing file is a LedgerError")
    func streamsAndFiles() throws {
        let parser = ImportParser(kind: .customers, fileName: "clients.csv", defaultCurrency: .eur)
        var names: [String] = []
        let summary = try parser.parse(stream: InputStream(data: Data("customer_id;name\nC1;Dupont\n".utf8))) { row in
            if case .customer(let customer) = row { names.append(customer.name) }
        }
        #expect(names == ["Dupont"])
        #expect(summary.validRowCount == 1)
        let missing = URL(fileURLWithPath: "/nonexistent/encours/clients.csv")
        let error = #expect(throws: LedgerError.self) { _ = try parser.parse(contentsOf: missing) { _ in } }
        #expect(error?.code == .unreadableInput)
        #expect(error?.description == "cannot open clients.csv: no such file")
        let directory = FileManager.default.temporaryDirectory
        let directoryError = #expect(throws: LedgerError.self) { _ = try parser.parse(contentsOf: directory) { _ in } }
        #expect(directoryError?.description == "cannot open clients.csv: it is a directory")
    }

    @Test("reading from a pipe through a FileHandle")
    func fileHandlePipe() throws {
        let pipe = Pipe()
        try pipe.fileHandleForWriting.write(contentsOf: Data("payment_id;customer_id;received_on;amount\r\nP1;C1;01/02/2025;10\r\n".utf8))
        try pipe.fileHandleForWriting.close()
        let parser = ImportParser(kind: .payments, fileName: "-", defaultCurrency: .eur)
        var ids: [String] = []
        let summary = try parser.parse(fileHandle: pipe.fileHandleForReading) { ids.append($0.id) }
        #expect(ids == ["P1"])
        #expect(summary.isValid)
    }

    @Test("long values are cut in messages so that each issue stays one readable line")
    func longValuesAreCut() throws {
        let longEmail = String(repeating: "a", count: 150) + "@"
        let parsed = try parseCSV(.customers, "customer_id;name;email\nC1;Dupont;\(longEmail)\n")
        let expectedValue = String(repeating: "a", count: 80) + "…"
        #expect(parsed.messages == [
            "customers.csv:2: email: not an email address (one address such as compta@example.fr) (\"\(expectedValue)\")",
        ])
        #expect(parsed.summary.issues.listed.first?.value == longEmail)
    }

    @Test("records are the same whatever the size of the reads (quotes, CRLF and UTF-8 cut anywhere)")
    func readSizeDoesNotMatter() throws {
        let csv = "a;b;c\r\n\"x;\"\"y\"\"\r\nz\";Œuvre;\u{202F}1 234,5\r\n;;\r\n\"\";é;\"\"\"\"\rlast;row;here"
        let bytes = Array(csv.utf8)
        let reference = try tokenize(DataByteSource(data: Data(bytes)))
        #expect(reference.map(\.line) == [1, 2, 4, 5, 6])
        #expect(reference[1].fields == ["x;\"y\"\r\nz", "Œuvre", "\u{202F}1 234,5"])
        #expect(reference[3].fields == ["", "é", "\""])
        for step in 1...9 {
            let trickled = try tokenize(TrickleByteSource(bytes: bytes, step: step))
            #expect(trickled.map(\.line) == reference.map(\.line), "step \(step)")
            #expect(trickled.map(\.fields) == reference.map(\.fields), "step \(step)")
        }
    }
}
