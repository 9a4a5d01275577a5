/// One problem found in an import file, printed as `FILE:LINE: FIELD: problem ("value")`.
///
/// `line` is the physical line of the file, the header being line 1 and a line break inside a
/// quoted field counting as a line, so it is the number a text editor shows. The importer's own
/// checks that need the database (unknown customer, payment above the invoice balance, currency
/// differing from the invoice's) create issues with the public initializer, so that every error
/// of an import reads the same way.
public struct ImportIssue: Sendable, Hashable, CustomStringConvertible {
    /// The file name as the user gave it.
    public let file: String
    /// The physical line (1 = header); nil for problems of the whole file, such as an empty file.
    public let line: Int?
    /// The column concerned, when there is one.
    public let field: String?
    /// The offending value, when there is one (trimmed, as read).
    public let value: String?
    /// What kind of problem this is.
    public let code: LedgerError.Code
    /// A short reason for the finance admin: "not a number", "duplicate of line 4".
    public let message: String

    /// Creates an issue; used by the parser and by importers that check rows against the database.
    public init(file: String, line: Int?, field: String?, value: String?, code: LedgerError.Code, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.value = value
        self.code = code
        self.message = message
    }

    /// Creates an issue from a ``LedgerError`` raised while reading `field` on `line`.
    public init(file: String, line: Int?, field: String?, error: LedgerError) {
        self.init(file: file, line: line, field: field, value: error.value, code: error.code, message: error.message)
    }

    /// `invoices.csv:14: amount: not a number ("12,3,4")`; parts that are nil are left out.
    public var description: String {
        var text = DisplayText.escaped(file)
        if let line { text += ":\(line)" }
        text += ": "
        if let field { text += "\(field): " }
        text += message
        if let value { text += " (\"\(DisplayText.quotable(value))\")" }
        return text
    }
}

/// The issues of an import: the first ones in full, and how many there were in all.
///
/// A file with a systematic problem can have an error on every one of a million rows; only the
/// first `listLimit` are kept, and `totalCount` says how many there were.
public struct ImportIssueList: Sendable, Hashable, CustomStringConvertible {
    /// How many issues are kept by default.
    public static let defaultListLimit = 1000

    /// How many issues are kept in `listed`.
    public let listLimit: Int
    /// The first issues, in the order they were found.
    public private(set) var listed: [ImportIssue] = []
    /// How many issues were found, listed or not.
    public private(set) var totalCount = 0

    /// An empty list keeping at most `listLimit` issues.
    public init(listLimit: Int = ImportIssueList.defaultListLimit) {
        self.listLimit = max(0, listLimit)
    }

    /// True when no issue was found.
    public var isEmpty: Bool { totalCount == 0 }

    /// How many issues were found but not kept.
    public var unlistedCount: Int { totalCount - listed.count }

    /// Counts `issue`, and keeps it while fewer than `listLimit` are kept.
    public mutating func append(_ issue: ImportIssue) {
        totalCount += 1
        if listed.count < listLimit {
            listed.append(issue)
        }
    }

    /// One issue per line, then `… and N more problems` when some were not kept.
    public var description: String {
        var lines = listed.map(\.description)
        if unlistedCount > 0 {
            lines.append("… and \(unlistedCount) more problem\(unlistedCount == 1 ? "" : "s") (\(totalCount) in all)")
        }
        return lines.joined(separator: "\n")
    }
}

/// What reading an import file found: its columns, how many rows were valid, and every issue.
///
/// The file may be imported only when ``isValid`` is true (SPEC §4: whole or not at all).
public struct ImportSummary: Sendable, Hashable {
    /// The kind of file read.
    public let kind: ImportKind
    /// The file name used in messages.
    public let fileName: String
    /// The delimiter detected from the header row, or nil when the header could not be read.
    public let delimiter: Character?
    /// The recognized columns, in the file's order.
    public let columns: [ImportColumn]
    /// Header names that are not columns of this kind, in the file's order; their values are ignored.
    public let ignoredColumns: [String]
    /// Data rows read: every row after the header except blank ones.
    public let recordCount: Int
    /// Rows that passed every check and were handed to the caller.
    public let validRowCount: Int
    /// The problems found.
    public let issues: ImportIssueList
    /// False when a problem (not UTF-8, row too long, bad header, broken quotes) stopped the reading early.
    public let readWholeFile: Bool

    /// True when the file has no problem at all and can be imported.
    public var isValid: Bool { issues.isEmpty }
}
