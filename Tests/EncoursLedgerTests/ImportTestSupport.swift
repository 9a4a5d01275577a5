import Foundation
@testable import EncoursLedger

/// The rows and summary of parsing one in-memory CSV file.
struct ParsedFile {
    let rows: [ImportRow]
    let summary: ImportSummary

    /// Every listed issue as the CLI prints it.
    var messages: [String] { summary.issues.listed.map(\.description) }

    var customers: [CustomerRow] {
        rows.compactMap { if case .customer(let row) = $0 { row } else { nil } }
    }
    var invoices: [InvoiceRow] {
        rows.compactMap { if case .invoice(let row) = $0 { row } else { nil } }
    }
    var payments: [PaymentRow] {
        rows.compactMap { if case .payment(let row) = $0 { row } else { nil } }
    }
    var disputes: [DisputeRow] {
        rows.compactMap { if case .dispute(let row) = $0 { row } else { nil } }
    }
}

/// Parses `bytes` as a file of `kind` named `<kind>.csv` unless told otherwise.
func parseCSV(
    _ kind: ImportKind, bytes: [UInt8], fileName: String? = nil, currency: CurrencyCode = .eur,
    maximumRowBytes: Int = ImportParser.defaultMaximumRowBytes,
    maximumListedIssues: Int = ImportIssueList.defaultListLimit
) throws -> ParsedFile {
    let parser = ImportParser(
        kind: kind, fileName: fileName ?? "\(kind).csv", defaultCurrency: currency,
        maximumRowBytes: maximumRowBytes, maximumListedIssues: maximumListedIssues)
    var rows: [ImportRow] = []
    let summary = try parser.parse(data: Data(bytes)) { rows.append($0) }
    return ParsedFile(rows: rows, summary: summary)
}

/// Parses the UTF-8 text `csv` as a file of `kind`.
func parseCSV(
    _ kind: ImportKind, _ csv: String, fileName: String? = nil, currency: CurrencyCode = .eur,
    maximumRowBytes: Int = ImportParser.defaultMaximumRowBytes,
    maximumListedIssues: Int = ImportIssueList.defaultListLimit
) throws -> ParsedFile {
    try parseCSV(
        kind, bytes: Array(csv.utf8), fileName: fileName, currency: currency, maximumRowBytes: maximumRowBytes,
        maximumListedIssues: maximumListedIssues)
}

/// A date known to be valid, for expectations.
func day(_ iso: String) -> CalendarDate {
    (try? CalendarDate(parsing: iso)) ?? CalendarDate(validatedDay: 0)
}

/// Byte source handing out at most `step` bytes per read, to cut records at every possible place.
struct TrickleByteSource: ByteSource {
    let bytes: [UInt8]
    let step: Int
    var offset = 0

    mutating func read(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int) throws(LedgerError) -> Int {
        let count = min(step, capacity, bytes.count - offset)
        for index in 0..<count {
            buffer[index] = bytes[offset + index]
        }
        offset += count
        return count
    }
}

/// The records (fields as strings) and start lines that the tokenizer reads from `source`.
func tokenize(_ source: any ByteSource, delimiter: UInt8 = UInt8(ascii: ";")) throws -> [(line: Int, fields: [String])] {
    var tokenizer = CSVTokenizer(source: source, maximumRowBytes: 1 << 20)
    var records: [(line: Int, fields: [String])] = []
    guard try tokenizer.start() else { return [] }
    tokenizer.delimiter = delimiter
    while try tokenizer.nextRecord() {
        let record = tokenizer.record
        let fields = (0..<record.fieldCount).map { String(decoding: record.field($0), as: UTF8.self) }
        records.append((record.line, fields))
    }
    return records
}
