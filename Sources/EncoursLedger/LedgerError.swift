/// The single error type of EncoursLedger: a machine-readable code, a short reason and the offending value.
///
/// `message` is written for a finance admin ("not a number", "no such date"); `value` is the input
/// that caused it, when there is one. `description` joins them as `message ("value")`, the tail of
/// the `FILE:LINE: FIELD: problem ("value")` lines that imports print (see ``ImportIssue``).
public struct LedgerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem this is, stable enough for callers and tests to match on.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// A decimal amount could not be read ("not a number").
        case invalidAmount = "invalid_amount"
        /// An amount, or the result of arithmetic on amounts, does not fit in 64-bit cents.
        case amountOutOfRange = "amount_out_of_range"
        /// A currency code is not three letters.
        case invalidCurrency = "invalid_currency"
        /// Two amounts in different currencies were combined.
        case currencyMismatch = "currency_mismatch"
        /// A rounding was asked with a zero denominator.
        case divisionByZero = "division_by_zero"
        /// A date is not written as `YYYY-MM-DD` or `DD/MM/YYYY`.
        case invalidDate = "invalid_date"
        /// A date is well written but does not exist (30 February) or is outside years 1–9999.
        case nonexistentDate = "nonexistent_date"
        /// An input file or stream could not be opened or read.
        case unreadableInput = "unreadable_input"
        /// An import file has no content at all.
        case emptyFile = "empty_file"
        /// An import file is not UTF-8 (for example a Windows-1252 export).
        case notUTF8 = "not_utf8"
        /// A row is longer than the import's limit (usually a quote left open).
        case rowTooLong = "row_too_long"
        /// A quoted field is badly formed or never closed.
        case malformedQuotes = "malformed_quotes"
        /// The header row names none of the columns this kind of file needs.
        case unrecognizedHeader = "unrecognized_header"
        /// A required column is absent from the header row.
        case missingColumn = "missing_column"
        /// A known column appears twice in the header row.
        case duplicateColumn = "duplicate_column"
        /// A row does not have as many fields as the header row.
        case wrongFieldCount = "wrong_field_count"
        /// A required value is empty.
        case missingValue = "missing_value"
        /// A value cannot be read as what its column holds.
        case invalidValue = "invalid_value"
        /// A value is readable but outside what the column allows (amount ≤ 0, terms > 365 days…).
        case valueOutOfRange = "value_out_of_range"
        /// Two rows of one file carry the same id.
        case duplicateID = "duplicate_id"
        /// Values of one row contradict each other (due date before issue date, credit note with no target…).
        case inconsistentRow = "inconsistent_row"
        /// A row names something that does not exist (reported by callers that check the database).
        case unknownReference = "unknown_reference"
        /// A row breaks a rule that needs other data (reported by callers that check the database).
        case ruleViolation = "rule_violation"
    }

    /// What kind of problem this is.
    public let code: Code
    /// A short reason, without the value: "not a number", "no such date".
    public let message: String
    /// The offending input, when there is one.
    public let value: String?

    /// Creates an error from its code, its reason and the offending input.
    public init(_ code: Code, _ message: String, value: String? = nil) {
        self.code = code
        self.message = message
        self.value = value
    }

    /// The reason followed by the quoted value: `not a number ("12,3,4")`.
    public var description: String {
        guard let value else { return message }
        return "\(message) (\"\(DisplayText.quotable(value))\")"
    }
}

/// Helpers that make user-supplied text safe to print on one line.
public enum DisplayText {
    /// The longest value, in characters, that an error message repeats before cutting it with "…".
    static let maximumShownLength = 80

    /// `text` with control characters escaped and cut to ``maximumShownLength`` characters.
    static func quotable(_ text: String) -> String {
        escaped(text, limit: maximumShownLength)
    }

    /// `text` with line breaks and tabs as `\n`, `\r`, `\t` and the other controls (C0, DEL, C1)
    /// and the bidi embeddings, overrides and isolates as `\u{1b}`; cut at `limit` characters.
    /// The CLI escapes every message line it prints the same way.
    public static func escaped(_ text: String, limit: Int? = nil) -> String {
        var result = ""
        var shown = 0
        for scalar in text.unicodeScalars {
            if let limit, shown == limit {
                result += "…"
                break
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                let value = scalar.value
                if value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value) {
                    result += "\\u{\(String(value, radix: 16))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
            shown += 1
        }
        return result
    }
}
