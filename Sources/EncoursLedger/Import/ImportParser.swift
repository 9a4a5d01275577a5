import Foundation

/// Reads a customers, invoices, payments or disputes CSV file (SPEC §4) row by row, checking every field.
///
/// The file is streamed: rows are read and handed to `onRow` one at a time, so memory does not
/// grow with the file, except for the set of ids seen (needed to refuse duplicates).
///
/// What the parser accepts, where the SPEC leaves room:
/// - **Encoding**: UTF-8, with or without a byte order mark. Anything else (Windows-1252 or
///   Latin-1 exports, UTF-16) stops the reading with an issue naming the line of the first bad byte.
/// - **Header**: line 1 names the columns in any order; names are compared after trimming spaces
///   and ignoring case. Columns the kind does not know are ignored and listed in
///   ``ImportSummary/ignoredColumns`` (ERP exports carry many). A required column missing, or a
///   known column named twice, is an error; an unknown column named twice is ignored like any other.
/// - **Delimiter**: the header line is split on `;` and on `,`; the one that yields more known
///   column names wins. On a tie, `;` wins when the line contains one, else `,`. Data rows use the
///   header's delimiter.
/// - **Quotes**: RFC 4180 (see the tokenizer's notes): `"Dupont; Fils & Cie"`, `""` for a quote,
///   line breaks inside quotes. A quote never closed, or text after a closing quote, stops the reading.
/// - **Rows**: LF, CRLF or CR line ends. A row whose fields are all empty (a blank line, or `;;;;`
///   as spreadsheets write them) is skipped. Other rows must have exactly as many fields as the
///   header. A row longer than `maximumRowBytes` (1 MiB by default) stops the reading.
/// - **Values**: every value is trimmed of spaces, tabs, no-break and narrow no-break spaces. Empty
///   optional values are treated as absent. Amounts follow ``Money/parseCents(_:)``, dates
///   ``CalendarDate/init(parsing:)`` with years limited to 1900–2999 to catch typos, ids are 1 to 64
///   characters without control characters and are compared exactly (case matters).
/// - **Empty files**: a file with no byte (or only a byte order mark) is an error, as it is most
///   often a failed export; a file with a header and no row is valid and imports nothing (a day
///   without payments is a legitimate nightly export).
///
/// Every problem becomes an ``ImportIssue`` (`FILE:LINE: FIELD: problem ("value")`, LINE being the
/// physical line where the row starts); the first `maximumListedIssues` are kept and all are counted.
/// Valid rows are handed to `onRow` even when other rows have issues, so that the caller can run
/// its own checks on every row in one pass; it must import nothing unless ``ImportSummary/isValid``.
public struct ImportParser: Sendable {
    /// The default longest row: 1 MiB.
    public static let defaultMaximumRowBytes = 1 << 20
    /// The years a date in an import file may have; others are taken for typos.
    public static let acceptedYears = 1900...2999
    /// The longest id, in characters.
    public static let maximumIDLength = 64

    /// The kind of file read.
    public let kind: ImportKind
    /// The name used in messages, usually the path as the user typed it.
    public let fileName: String
    /// The currency of amounts in rows without a `currency` value (the tenant's currency).
    public let defaultCurrency: CurrencyCode
    /// The longest row, in bytes, before reading stops.
    public let maximumRowBytes: Int
    /// How many issues are kept in full (all are counted).
    public let maximumListedIssues: Int
    /// Whether the parser refuses a second row with the same id. It keeps every id seen to do
    /// so (about 70 MB per million); a caller that checks duplicates itself (the database
    /// importer does it on its staging table) turns it off to keep memory flat.
    public let checksDuplicateIDs: Bool

    /// Creates a parser for one file of `kind`, whose name appears in every issue.
    public init(
        kind: ImportKind, fileName: String, defaultCurrency: CurrencyCode,
        maximumRowBytes: Int = ImportParser.defaultMaximumRowBytes,
        maximumListedIssues: Int = ImportIssueList.defaultListLimit,
        checksDuplicateIDs: Bool = true
    ) {
        self.kind = kind
        self.fileName = fileName
        self.defaultCurrency = defaultCurrency
        self.maximumRowBytes = maximumRowBytes
        self.maximumListedIssues = maximumListedIssues
        self.checksDuplicateIDs = checksDuplicateIDs
    }

    /// Reads `stream` (opened if needed, left open) and hands each valid row to `onRow`.
    ///
    /// For files prefer ``parse(contentsOf:onRow:)``: on Linux, Foundation's `InputStream` prints
    /// CoreFoundation warnings on stderr when a file cannot be opened.
    ///
    /// Throws ``LedgerError`` with code `unreadableInput` when the stream cannot be read, and
    /// whatever `onRow` throws (reading stops there); problems in the file are not thrown but
    /// returned in the summary.
    public func parse(stream: InputStream, onRow: (ImportRow) throws -> Void) throws -> ImportSummary {
        let source = try StreamByteSource(stream: stream, fileName: fileName)
        return try read(source, onRow: onRow)
    }

    /// Reads the file at `url` and hands each valid row to `onRow`; see ``parse(stream:onRow:)``.
    public func parse(contentsOf url: URL, onRow: (ImportRow) throws -> Void) throws -> ImportSummary {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw LedgerError(.unreadableInput, "cannot open \(fileName): it is a directory")
        }
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw LedgerError(.unreadableInput, "cannot open \(fileName): \(FileHandleByteSource.reason(error))")
        }
        defer { try? handle.close() }
        return try parse(fileHandle: handle, onRow: onRow)
    }

    /// Reads from `fileHandle` (a file, a pipe, standard input), left open; see ``parse(stream:onRow:)``.
    public func parse(fileHandle: FileHandle, onRow: (ImportRow) throws -> Void) throws -> ImportSummary {
        try read(FileHandleByteSource(handle: fileHandle, fileName: fileName), onRow: onRow)
    }

    /// Reads CSV bytes held in memory and hands each valid row to `onRow`; see ``parse(stream:onRow:)``.
    public func parse(data: Data, onRow: (ImportRow) throws -> Void) throws -> ImportSummary {
        try read(DataByteSource(data: data), onRow: onRow)
    }

    private func read(_ source: any ByteSource, onRow: (ImportRow) throws -> Void) throws -> ImportSummary {
        var tokenizer = CSVTokenizer(source: source, maximumRowBytes: maximumRowBytes)
        var run = ImportRun(parser: self)
        do {
            guard try tokenizer.start(), try tokenizer.nextRawLine() else {
                let expected = kind.requiredColumns.map(\.name).joined(separator: ";")
                run.add(
                    line: nil, field: nil, value: nil, .emptyFile,
                    "file is empty; expected a header row such as \(expected)")
                return run.summary(readWholeFile: false)
            }
            if let invalid = tokenizer.firstInvalidUTF8() {
                run.addNotUTF8(invalid)
                return run.summary(readWholeFile: false)
            }
            guard run.readHeader(tokenizer.record.field(0)) else {
                return run.summary(readWholeFile: false)
            }
            tokenizer.delimiter = run.delimiter
            while try tokenizer.nextRecord() {
                if let invalid = tokenizer.firstInvalidUTF8() {
                    run.addNotUTF8(invalid)
                    return run.summary(readWholeFile: false)
                }
                try run.process(tokenizer.record, onRow: onRow)
            }
        } catch let failure as CSVTokenizer.Failure {
            if let readError = failure.readError {
                throw readError
            }
            run.add(line: failure.line, field: nil, value: nil, failure.code, failure.message)
            return run.summary(readWholeFile: false)
        }
        return run.summary(readWholeFile: true)
    }
}

/// The state of one parse: the header's layout, the ids seen, the counts and the issues.
struct ImportRun {
    let parser: ImportParser
    private(set) var delimiter: UInt8 = UInt8(ascii: ",")
    private var delimiterFound = false
    /// For each ``ImportColumn`` (by raw value), its field index in the file, or -1.
    private var positions = [Int](repeating: -1, count: ImportColumn.allCases.count)
    private var columns: [ImportColumn] = []
    private var ignoredColumns: [String] = []
    private var headerFieldCount = 0
    private var firstLineByID: [String: Int] = [:]
    private var recordCount = 0
    private var validRowCount = 0
    private var issues: ImportIssueList

    init(parser: ImportParser) {
        self.parser = parser
        issues = ImportIssueList(listLimit: parser.maximumListedIssues)
    }

    mutating func add(line: Int?, field: String?, value: String?, _ code: LedgerError.Code, _ message: String) {
        issues.append(
            ImportIssue(file: parser.fileName, line: line, field: field, value: value, code: code, message: message))
    }

    mutating func addNotUTF8(_ invalid: (line: Int, byte: UInt8)) {
        let hex = String(invalid.byte, radix: 16, uppercase: true)
        add(
            line: invalid.line, field: nil, value: nil, .notUTF8,
            "not UTF-8 (byte 0x\(hex)); export the file as \"CSV UTF-8\" (Windows-1252 and Latin-1 are not accepted)")
    }

    func summary(readWholeFile: Bool) -> ImportSummary {
        ImportSummary(
            kind: parser.kind, fileName: parser.fileName,
            delimiter: delimiterFound ? Character(Unicode.Scalar(delimiter)) : nil,
            columns: columns, ignoredColumns: ignoredColumns, recordCount: recordCount,
            validRowCount: validRowCount, issues: issues, readWholeFile: readWholeFile)
    }

    // MARK: Header

    /// Reads the header line: delimiter, column positions; false (with issues) when rows cannot be read.
    mutating func readHeader(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        let kind = parser.kind
        let known = Set(kind.knownColumns.map(\.name))
        let semicolon = UInt8(ascii: ";")
        let comma = UInt8(ascii: ",")
        let bySemicolon = ImportRun.splitHeader(line, delimiter: semicolon)
        let byComma = ImportRun.splitHeader(line, delimiter: comma)
        let semicolonScore = bySemicolon.filter { known.contains($0.normalized) }.count
        let commaScore = byComma.filter { known.contains($0.normalized) }.count
        let names: [HeaderName]
        if semicolonScore != commaScore {
            (delimiter, names) = semicolonScore > commaScore ? (semicolon, bySemicolon) : (comma, byComma)
        } else {
            (delimiter, names) = line.contains(semicolon) ? (semicolon, bySemicolon) : (comma, byComma)
        }
        let headerText = String(decoding: TextBytes.trimmed(line), as: UTF8.self)
        let expected = kind.requiredColumns.map(\.name).joined(separator: ", ")
        if TextBytes.trimmed(line).isEmpty {
            add(
                line: 1, field: nil, value: nil, .unrecognizedHeader,
                "line 1 is empty; it must be the header row naming the columns (\(expected))")
            return false
        }
        guard max(semicolonScore, commaScore) > 0 else {
            add(
                line: 1, field: nil, value: headerText, .unrecognizedHeader,
                "header row names none of the \(kind) columns (expected \(expected), separated by \";\" or \",\")")
            return false
        }
        delimiterFound = true
        headerFieldCount = names.count

        var headerIsUsable = true
        for (index, name) in names.enumerated() {
            guard let column = ImportColumn(name: name.normalized), kind.knownColumns.contains(column) else {
                if !name.normalized.isEmpty {
                    ignoredColumns.append(name.original)
                }
                continue
            }
            let existing = positions[column.rawValue]
            if existing >= 0 {
                add(
                    line: 1, field: column.name, value: nil, .duplicateColumn,
                    "column appears twice in the header (columns \(existing + 1) and \(index + 1))")
                headerIsUsable = false
                continue
            }
            positions[column.rawValue] = index
            columns.append(column)
        }
        for column in kind.requiredColumns where positions[column.rawValue] < 0 {
            add(line: 1, field: column.name, value: nil, .missingColumn, "required column is missing from the header")
            headerIsUsable = false
        }
        return headerIsUsable
    }

    /// A header cell as written (trimmed, unquoted) and as compared (also lowercased).
    struct HeaderName {
        let original: String
        let normalized: String
    }

    /// Splits a raw header line on `delimiter`, honouring double quotes.
    static func splitHeader(_ line: UnsafeBufferPointer<UInt8>, delimiter: UInt8) -> [HeaderName] {
        let quote = UInt8(ascii: "\"")
        var names: [HeaderName] = []
        var index = 0
        let count = line.count
        while true {
            var cell: [UInt8] = []
            var cursor = index
            while cursor < count && (line[cursor] == 0x20 || line[cursor] == 0x09) {
                cursor += 1
            }
            if cursor < count && line[cursor] == quote {
                cursor += 1
                while cursor < count {
                    if line[cursor] == quote {
                        if cursor + 1 < count && line[cursor + 1] == quote {
                            cell.append(quote)
                            cursor += 2
                            continue
                        }
                        cursor += 1
                        break
                    }
                    cell.append(line[cursor])
                    cursor += 1
                }
                while cursor < count && line[cursor] != delimiter {
                    cursor += 1
                }
            } else {
                cursor = index
                while cursor < count && line[cursor] != delimiter {
                    cell.append(line[cursor])
                    cursor += 1
                }
            }
            let original = cell.withUnsafeBufferPointer { String(decoding: TextBytes.trimmed($0), as: UTF8.self) }
            names.append(HeaderName(original: original, normalized: original.lowercased()))
            if cursor >= count { break }
            index = cursor + 1
        }
        return names
    }

    // MARK: Rows

    /// Checks one record and hands it to `onRow` when it is valid.
    mutating func process(_ record: RecordView, onRow: (ImportRow) throws -> Void) throws {
        var isBlank = true
        for index in 0..<record.fieldCount where !TextBytes.trimmed(record.field(index)).isEmpty {
            isBlank = false
            break
        }
        if isBlank { return }
        recordCount += 1

        guard record.fieldCount == headerFieldCount else {
            var message = "row has \(record.fieldCount) fields but the header has \(headerFieldCount)"
            if delimiter == UInt8(ascii: ",") && record.fieldCount > headerFieldCount {
                message += " (an amount with a decimal comma must be quoted when the delimiter is \",\")"
            } else if delimiter == UInt8(ascii: ";") && record.fieldCount > headerFieldCount {
                message += " (a value containing \";\" must be quoted)"
            }
            add(line: record.line, field: nil, value: nil, .wrongFieldCount, message)
            return
        }

        var reader = RowReader(
            record: record, positions: positions, fileName: parser.fileName,
            defaultCurrency: parser.defaultCurrency)
        let row: ImportRow?
        switch parser.kind {
        case .customers: row = reader.customer().map(ImportRow.customer)
        case .invoices: row = reader.invoice().map(ImportRow.invoice)
        case .payments: row = reader.payment().map(ImportRow.payment)
        case .disputes: row = reader.dispute().map(ImportRow.dispute)
        }

        if parser.checksDuplicateIDs, let id = reader.rowID, let firstLine = firstLineByID.updateValue(record.line, forKey: id) {
            firstLineByID[id] = firstLine  // keep pointing at the first occurrence (one hash for new ids)
            reader.report(parser.kind.idColumn, .duplicateID, "duplicate of line \(firstLine)", value: id)
        }

        for issue in reader.issues {
            issues.append(issue)
        }
        if let row, reader.issues.isEmpty {
            validRowCount += 1
            try onRow(row)
        }
    }
}
