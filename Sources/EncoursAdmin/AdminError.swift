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
}
