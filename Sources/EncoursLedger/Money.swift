/// An amount of money: a whole number of cents and an ISO 4217 currency; never floating point.
///
/// `cents` are hundredths of the currency unit for every currency (SPEC §1: "integer minor units
/// (cents)"), so an amount in yen keeps two decimals too. Arithmetic reports overflow and
/// currency mismatches as ``LedgerError`` instead of trapping.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    /// The amount in hundredths of the currency unit; negative for a credit.
    public let cents: Int64
    /// The currency of the amount.
    public let currency: CurrencyCode

    /// Creates an amount from a whole number of cents.
    public init(cents: Int64, currency: CurrencyCode) {
        self.cents = cents
        self.currency = currency
    }

    /// Zero in `currency`.
    public static func zero(_ currency: CurrencyCode) -> Money {
        Money(cents: 0, currency: currency)
    }

    /// Reads a decimal string as French and English ERPs export it (see ``parseCents(_:)`` for the rules).
    public init(parsing text: String, currency: CurrencyCode) throws(LedgerError) {
        self.init(cents: try Money.parseCents(text), currency: currency)
    }

    /// Reads a decimal string into cents, rounding half away from zero past the second decimal.
    ///
    /// The rules, in order:
    /// - Surrounding spaces, tabs, no-break (U+00A0) and narrow no-break (U+202F) spaces are ignored.
    /// - An optional `-` or `+` comes first.
    /// - The decimal separator is `.` or `,`:
    ///   - when both appear, the last one is the decimal separator and must appear once; the other
    ///     groups thousands (`1.234,56` and `1,234.56` are both 1234.56);
    ///   - when only one of them appears, once, it is the decimal separator, even before three
    ///     digits: `1,234` and `1.234` are 1.234 (rounded to 1.23), never a thousand — write
    ///     `1234`, `1 234` or `1.234,00` for that;
    ///   - when only one of them appears several times, it groups thousands of a whole number
    ///     (`1.234.567`).
    /// - Spaces (any of the three kinds) may group thousands, but not together with `.`/`,` grouping.
    /// - Grouped digits must form groups of three after a first group of one to three digits.
    /// - The fraction needs at least one digit (`12,` is refused; `,5` is 0.50).
    /// - Digits past the second decimal round half away from zero: `0,005` → 0.01, `-0,005` → -0.01.
    ///
    /// Errors: `invalidAmount` ("not a number") for anything else, `amountOutOfRange` past ±92,233,720,368,547,758.07.
    public static func parseCents(_ text: String) throws(LedgerError) -> Int64 {
        try TextBytes.withBytes(of: text) { bytes throws(LedgerError) in
            try DecimalParser.cents(bytes)
        }
    }

    /// Reads a decimal string into cents like ``parseCents(_:)``, but refuses non-zero digits past
    /// the second decimal instead of rounding them (`40.001` is an error, `40.000` is 40.00): for
    /// settings and command-line amounts, where rounding what a person typed would hide a typo.
    public static func parseExactCents(_ text: String) throws(LedgerError) -> Int64 {
        try TextBytes.withBytes(of: text) { bytes throws(LedgerError) in
            try DecimalParser.cents(bytes, exact: true)
        }
    }

    /// Rounds the exact amount `numerator ÷ denominator` cents to a whole cent, half away from zero.
    ///
    /// For sums that must stay exact before a single rounding, such as late-payment interest
    /// (Σ balance × rate ÷ 365 over days, rounded once per invoice, SPEC §5.4).
    /// Errors: `divisionByZero`, and `amountOutOfRange` when the result does not fit in 64-bit cents.
    public static func centsRoundedHalfAwayFromZero(_ numerator: Int128, over denominator: Int128) throws(LedgerError) -> Int64 {
        guard denominator != 0 else {
            throw LedgerError(.divisionByZero, "cannot divide an amount by zero")
        }
        let isNegative = (numerator < 0) != (denominator < 0)
        let dividend = numerator.magnitude
        let divisor = denominator.magnitude
        var quotient = dividend / divisor
        let remainder = dividend % divisor
        if remainder >= divisor - remainder {  // remainder ≥ divisor / 2, without overflow
            quotient += 1
        }
        guard quotient <= UInt128(Int64.max) else {
            throw LedgerError(.amountOutOfRange, "amount too large", value: "\(numerator)/\(denominator) cents")
        }
        let magnitude = Int64(quotient)
        return isNegative ? -magnitude : magnitude
    }

    /// The exact amount `numerator ÷ denominator` cents, rounded half away from zero to the cent.
    public init(roundingCents numerator: Int128, over denominator: Int128, currency: CurrencyCode) throws(LedgerError) {
        self.init(cents: try Money.centsRoundedHalfAwayFromZero(numerator, over: denominator), currency: currency)
    }

    /// The largest amount one ledger row (invoice, payment, dispute, promise, credit limit) may
    /// hold: 1,000,000,000,000.00. Sums of a whole tenant's rows then stay far inside 128-bit
    /// cents, and the database refuses larger rows too.
    public static let maximumRowCents: Int64 = 100_000_000_000_000

    /// A sum of cents, which may exceed 64 bits, as a decimal string (`123456` → `1234.56`).
    public static func decimalString(cents: Int128) -> String {
        let magnitude = cents.magnitude
        let units = magnitude / 100
        let hundredths = magnitude % 100
        return "\(cents < 0 ? "-" : "")\(units).\(hundredths < 10 ? "0" : "")\(hundredths)"
    }

    /// Reads a whole number of cents as PostgreSQL writes a `numeric` sum (`-1234`, `0`); nil if it is not one.
    public static func cents(numericText text: String) -> Int128? {
        Int128(text)
    }

    /// The amount as a decimal string with a point and two decimals: `1234.56`, `-12.30`, `0.00`.
    public var decimalString: String {
        Money.decimalString(cents: cents)
    }

    /// `cents` written as a decimal string with a point and two decimals: `123456` → `1234.56`.
    public static func decimalString(cents: Int64) -> String {
        decimalString(cents: Int128(cents))
    }

    /// The decimal string followed by the currency: `1234.56 EUR`.
    public var description: String {
        "\(decimalString) \(currency.code)"
    }

    /// True when the amount is zero.
    public var isZero: Bool { cents == 0 }
    /// True when the amount is above zero.
    public var isPositive: Bool { cents > 0 }
    /// True when the amount is below zero.
    public var isNegative: Bool { cents < 0 }

    /// The sum of two amounts of one currency.
    public func adding(_ other: Money) throws(LedgerError) -> Money {
        try requireSameCurrency(other)
        let (sum, overflow) = cents.addingReportingOverflow(other.cents)
        guard !overflow else {
            throw LedgerError(.amountOutOfRange, "amount too large", value: "\(decimalString) + \(other.decimalString)")
        }
        return Money(cents: sum, currency: currency)
    }

    /// This amount minus another of the same currency.
    public func subtracting(_ other: Money) throws(LedgerError) -> Money {
        try requireSameCurrency(other)
        let (difference, overflow) = cents.subtractingReportingOverflow(other.cents)
        guard !overflow else {
            throw LedgerError(.amountOutOfRange, "amount too large", value: "\(decimalString) - \(other.decimalString)")
        }
        return Money(cents: difference, currency: currency)
    }

    /// The opposite amount.
    public func negated() throws(LedgerError) -> Money {
        let (opposite, overflow) = Int64(0).subtractingReportingOverflow(cents)
        guard !overflow else {
            throw LedgerError(.amountOutOfRange, "amount too large", value: decimalString)
        }
        return Money(cents: opposite, currency: currency)
    }

    private func requireSameCurrency(_ other: Money) throws(LedgerError) {
        guard other.currency == currency else {
            throw LedgerError(
                .currencyMismatch, "cannot combine amounts in different currencies",
                value: "\(description), \(other.description)")
        }
    }
}

/// Reads decimal amounts from UTF-8 bytes without allocating; the rules are those of ``Money/parseCents(_:)``.
enum DecimalParser {
    /// Reads `raw` (surrounding spaces allowed) into cents, rounding half away from zero, or
    /// refusing digits past the second decimal that are not zero when `exact` is true.
    static func cents(_ raw: UnsafeBufferPointer<UInt8>, exact: Bool = false) throws(LedgerError) -> Int64 {
        let bytes = TextBytes.trimmed(raw)
        let count = bytes.count
        guard count > 0 else { throw notANumber(raw) }

        var bodyStart = 0
        var isNegative = false
        if bytes[0] == UInt8(ascii: "-") {
            isNegative = true
            bodyStart = 1
        } else if bytes[0] == UInt8(ascii: "+") {
            bodyStart = 1
        }

        // First pass: which characters appear, and where the last `.` and `,` are.
        var digitCount = 0
        var dotCount = 0
        var commaCount = 0
        var spaceCount = 0
        var lastDot = -1
        var lastComma = -1
        var index = bodyStart
        while index < count {
            let byte = bytes[index]
            if byte &- UInt8(ascii: "0") < 10 {
                digitCount += 1
                index += 1
            } else if byte == UInt8(ascii: ".") {
                dotCount += 1
                lastDot = index
                index += 1
            } else if byte == UInt8(ascii: ",") {
                commaCount += 1
                lastComma = index
                index += 1
            } else {
                let length = TextBytes.spaceLength(bytes, at: index)
                guard length > 0 else { throw notANumber(raw) }
                spaceCount += 1
                index += length
            }
        }
        guard digitCount > 0 else { throw notANumber(raw) }

        // Which character separates decimals, and which one groups thousands.
        let spaceGrouping: UInt8 = 0x20
        var decimalIndex = -1
        var grouping: UInt8 = 0  // 0: no grouping
        if dotCount > 0 && commaCount > 0 {
            guard spaceCount == 0 else { throw notANumber(raw) }
            if lastDot > lastComma {
                guard dotCount == 1 else { throw notANumber(raw) }
                decimalIndex = lastDot
                grouping = UInt8(ascii: ",")
            } else {
                guard commaCount == 1 else { throw notANumber(raw) }
                decimalIndex = lastComma
                grouping = UInt8(ascii: ".")
            }
        } else if dotCount + commaCount == 1 {
            decimalIndex = max(lastDot, lastComma)
            grouping = spaceCount > 0 ? spaceGrouping : 0
        } else if dotCount + commaCount > 1 {
            guard spaceCount == 0 else { throw notANumber(raw) }
            grouping = dotCount > 0 ? UInt8(ascii: ".") : UInt8(ascii: ",")
        } else {
            grouping = spaceCount > 0 ? spaceGrouping : 0
        }

        // Second pass: the whole units, checking the thousands groups.
        let integerEnd = decimalIndex >= 0 ? decimalIndex : count
        var units: Int64 = 0
        var groupLength = 0
        var completedGroups = 0
        index = bodyStart
        while index < integerEnd {
            let byte = bytes[index]
            let digit = byte &- UInt8(ascii: "0")
            if digit < 10 {
                let (shifted, overflowA) = units.multipliedReportingOverflow(by: 10)
                let (added, overflowB) = shifted.addingReportingOverflow(Int64(digit))
                guard !overflowA && !overflowB else { throw tooLarge(raw) }
                units = added
                groupLength += 1
                index += 1
                continue
            }
            let separatorLength: Int
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: ",") {
                guard byte == grouping else { throw notANumber(raw) }
                separatorLength = 1
            } else {
                guard grouping == spaceGrouping else { throw notANumber(raw) }
                separatorLength = TextBytes.spaceLength(bytes, at: index)
            }
            let validGroup = completedGroups == 0 ? (1...3).contains(groupLength) : groupLength == 3
            guard validGroup else { throw notANumber(raw) }
            completedGroups += 1
            groupLength = 0
            index += separatorLength
        }
        if completedGroups > 0 {
            guard groupLength == 3 else { throw notANumber(raw) }
        }

        // The fraction: two digits kept, the third decides the rounding, the rest only checked.
        var hundredths: Int64 = 0
        var roundsUp = false
        if decimalIndex >= 0 {
            guard decimalIndex + 1 < count else { throw notANumber(raw) }
            var position = 0
            index = decimalIndex + 1
            while index < count {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { throw notANumber(raw) }
                switch position {
                case 0: hundredths += Int64(digit) * 10
                case 1: hundredths += Int64(digit)
                case 2: roundsUp = digit >= 5
                default: break
                }
                if exact, position >= 2, digit != 0 {
                    throw LedgerError(
                        .invalidAmount, "more than two decimals", value: String(decoding: TextBytes.trimmed(raw), as: UTF8.self))
                }
                position += 1
                index += 1
            }
        }

        let (scaled, overflowA) = units.multipliedReportingOverflow(by: 100)
        let (withFraction, overflowB) = scaled.addingReportingOverflow(hundredths + (roundsUp ? 1 : 0))
        guard !overflowA && !overflowB else { throw tooLarge(raw) }
        return isNegative ? -withFraction : withFraction
    }

    private static func notANumber(_ raw: UnsafeBufferPointer<UInt8>) -> LedgerError {
        LedgerError(.invalidAmount, "not a number", value: String(decoding: TextBytes.trimmed(raw), as: UTF8.self))
    }

    private static func tooLarge(_ raw: UnsafeBufferPointer<UInt8>) -> LedgerError {
        LedgerError(
            .amountOutOfRange, "too large: the most one row may hold is \(Money.decimalString(cents: Money.maximumRowCents))",
            value: String(decoding: TextBytes.trimmed(raw), as: UTF8.self))
    }
}
