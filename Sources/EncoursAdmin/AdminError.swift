import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue

/// An error the admin commands report to the user: one line, naming what is wrong.
public struct AdminError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case invalidInput = "invalid_input"
        case notFound = "not_found"
        case conflict
        case database
        case configuration
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Converts any error into the one line a user should see.
    public static func userMessage(for error: any Error) -> String {
        switch error {
        case let error as AdminError: return error.message
        case let error as QueueError: return error.description
        case let error as LedgerStoreError: return error.message
        case let error as LedgerError: return error.description
        case let error as LedgerImport.Rejected: return error.description
        case let error as PostgresError:
            return error.code == .connectionFailed ? error.message : "database error: \(error)"
        default: return String(describing: error)
        }
    }
}
