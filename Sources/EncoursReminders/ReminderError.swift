/// The one error of the reminder documents: a code and one line naming the template, the part and the value at fault.
public struct ReminderError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What went wrong.
    public enum Code: String, Sendable, Hashable {
        /// No template of that name and language (built in or the tenant's).
        case unknownTemplate = "unknown_template"
        /// A template's Mustache does not parse.
        case invalidTemplate = "invalid_template"
        /// A template names a variable or section that reminders do not have.
        case unknownVariable = "unknown_variable"
        /// A template uses a Mustache feature reminders do not support (partials, inheritance).
        case unsupportedTag = "unsupported_tag"
        /// A template's name or subject is not acceptable.
        case invalidField = "invalid_field"
    }

    public var code: Code
    /// One line, safe to print: values from templates are quoted, shortened and stripped of control characters.
    public var message: String

    /// An error of `code` with a one-line `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// `value` in double quotes, on one line and at most `limit` characters, for a message.
    static func quoted(_ value: some StringProtocol, limit: Int = 60) -> String {
        var shown = ""
        for character in value.prefix(limit) {
            if character.isNewline || character.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                shown += " "
            } else if character == "\"" || character == "\\" {
                shown += "\\" + String(character)
            } else {
                shown.append(character)
            }
        }
        return "\"" + shown + (value.count > limit ? "…" : "") + "\""
    }
}
