import EncoursLedger
import EncoursPostgres

/// The one line an executable prints for an error.
///
/// Every module's error describes itself in one line naming what is wrong; database errors
/// are translated where a user can act on them (an unmigrated database, a value out of range,
/// a lost connection) instead of showing raw SQLSTATE text.
public enum ErrorMessage {
    /// The line to print for `error`, without the program name.
    public static func line(for error: any Error) -> String {
        let text: String
        switch error {
        case let error as PostgresError: text = describe(error)
        case is CancellationError: text = "interrupted"
        default: text = String(describing: error)
        }
        return terminalSafe(text.split(whereSeparator: \.isNewline).joined(separator: " "))
    }

    /// The longest message line printed, in characters: values in messages are cut long before
    /// (200 characters), this is the last guard.
    public static let maximumLineLength = 2_000

    /// `line` as it may be printed on a terminal: line breaks, tabs, the other control
    /// characters (C0, DEL, C1) and the bidi embeddings, overrides and isolates escaped (`\n`,
    /// `\u{1b}`: ``DisplayText/escaped(_:limit:)``), so a hostile value can neither colour, move
    /// nor reorder the terminal's text; cut at ``maximumLineLength``.
    public static func terminalSafe(_ line: String) -> String {
        DisplayText.escaped(line, limit: maximumLineLength)
    }

    static func describe(_ error: PostgresError) -> String {
        switch (error.code, error.sqlState) {
        case (.connectionFailed, _):
            return error.message
        case (.connectionLost, _):
            return "lost the connection to PostgreSQL: \(error.message)"
        case (_, "3F000"?) where error.message.contains("encours"), (_, "42P01"?) where error.message.contains("encours"):
            return "the database has no Encours schema (\(error.message)): run encours migrate first"
        case (_, "42883"?) where error.message.contains("encours."):
            return "the database schema is older than this encours (\(error.message)): run encours migrate"
        case (_, "57014"?):
            return "interrupted: the statement was cancelled and nothing was changed"
        case (_, "22003"?):
            return "a number is out of range: \(error.message)"
        case (_, "40001"?), (_, "40P01"?):
            return "the database aborted the change because of a concurrent one; nothing was changed, try again (\(error.message))"
        default:
            return "database error: \(error)"
        }
    }
}
