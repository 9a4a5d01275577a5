import Foundation

/// A Swift value that can be sent to PostgreSQL as a text-format bind parameter.
public protocol PostgresEncodable: Sendable {
    /// The parameter's text form, or nil for SQL NULL.
    var postgresText: String? { get }
}

/// A Swift value that can be read from a text-format result cell.
public protocol PostgresDecodable {
    /// Decodes the value from its text form; returns nil when the text is not a valid value.
    init?(postgresText: String)
}

extension String: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self }
    public init?(postgresText: String) { self = postgresText }
}

extension Int: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int32: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self ? "t" : "f" }
    public init?(postgresText: String) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

extension Double: PostgresEncodable, PostgresDecodable {
    /// The shortest text that reads back as the same value (`inf`/`nan` as PostgreSQL spells them).
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self > 0 ? "Infinity" : "-Infinity" }
        return "\(self)"
    }
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self?.postgresText }
}

/// Timestamps travel as ISO 8601 text in UTC; sessions are set to `TimeZone=UTC`, `DateStyle=ISO`.
extension Date: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { PostgresTimestamp.format(self) }
    public init?(postgresText: String) {
        guard let date = PostgresTimestamp.parse(postgresText) else { return nil }
        self = date
    }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    public var postgresText: String? {
        // Integer arrays (job ids in every completion batch) skip the per-element strings.
        if Element.self == Int64.self { return PostgresArrayLiteral.encode(integers: unsafeBitCast(self, to: [Int64].self)) }
        if Element.self == Int.self { return PostgresArrayLiteral.encode(integers: unsafeBitCast(self, to: [Int].self)) }
        return PostgresArrayLiteral.encode(map(\.postgresText))
    }
}

/// PostgreSQL's text array syntax: quoting on the way in, parsing on the way out.
public enum PostgresArrayLiteral {
    /// Encodes elements (nil for NULL) as a one-dimensional array literal, quoting every element.
    public static func encode(_ elements: [String?]) -> String {
        var out = "{"
        out.reserveCapacity(elements.count * 8 + 2)
        for (index, element) in elements.enumerated() {
            if index > 0 { out.append(",") }
            guard let element else { out.append("NULL"); continue }
            if isPlain(element) {
                out.append(element)
                continue
            }
            out.append("\"")
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { out.append("\\") }
                out.unicodeScalars.append(character)
            }
            out.append("\"")
        }
        out.append("}")
        return out
    }

    /// Encodes integers as an array literal (they never need quotes).
    ///
    /// Digits are written straight into one byte buffer: every completion batch sends a
    /// thousand ids and attempts this way, and a `String` per element cost more than the rest.
    public static func encode<Integer: BinaryInteger>(integers: [Integer]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(integers.count * 8 + 2)
        bytes.append(UInt8(ascii: "{"))
        for (index, value) in integers.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            guard var magnitude = UInt64(exactly: value.magnitude) else {
                bytes.append(contentsOf: String(value).utf8)  // wider than 64 bits
                continue
            }
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            let first = bytes.count
            repeat {
                let (quotient, digit) = magnitude.quotientAndRemainder(dividingBy: 10)
                bytes.append(UInt8(ascii: "0") &+ UInt8(digit))
                magnitude = quotient
            } while magnitude != 0
            bytes[first...].reverse()
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// True when an element needs no quotes: non-empty, only letters, digits and `.-_:+`, and not `NULL`.
    static func isPlain(_ element: String) -> Bool {
        guard !element.isEmpty, element.utf8.count < 64 else { return false }
        for byte in element.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "+"):
                continue
            default:
                return false
            }
        }
        return element.utf8.count != 4 || element.uppercased() != "NULL"
    }

    /// Parses a one-dimensional array literal into its elements (nil for NULL).
    public static func decode(_ text: String) -> [String?]? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.first == "{", scalars.last == "}" else { return nil }
        var result: [String?] = []
        var index = 1
        let end = scalars.count - 1
        if index == end { return [] }
        while index < end {
            if scalars[index] == "\"" {
                index += 1
                var value = String.UnicodeScalarView()
                while index < end, scalars[index] != "\"" {
                    if scalars[index] == "\\" { index += 1 }
                    if index < end { value.append(scalars[index]) }
                    index += 1
                }
                index += 1  // closing quote
                result.append(String(value))
            } else {
                var value = String.UnicodeScalarView()
                while index < end, scalars[index] != "," {
                    value.append(scalars[index])
                    index += 1
                }
                let text = String(value)
                result.append(text == "NULL" ? nil : text)
            }
            if index < end, scalars[index] == "," { index += 1 }
        }
        return result
    }
}

/// Formats and parses `timestamptz` text as PostgreSQL writes it with `DateStyle=ISO` in UTC.
public enum PostgresTimestamp {
    /// `2026-11-30 03:14:12.123456+00`-style text, always UTC.
    public static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = floor(seconds)
        var micros = Int(((seconds - whole) * 1_000_000).rounded())
        if micros >= 1_000_000 { whole += 1; micros -= 1_000_000 }
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        let base = String(
            format: "%04d-%02d-%02d %02d:%02d:%02d",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        return base + String(format: ".%06d+00", micros)
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]` (also with a `T`); nil when malformed.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19 else { return nil }
        func number(_ start: Int, _ length: Int) -> Int? {
            guard start + length <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<(start + length)] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), bytes[4] == 45, let month = number(5, 2), bytes[7] == 45,
            let day = number(8, 2), bytes[10] == 32 || bytes[10] == 84,
            let hour = number(11, 2), bytes[13] == 58, let minute = number(14, 2), bytes[16] == 58,
            let second = number(17, 2)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == 46 {
            index += 1
            var scale = 0.1
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds = 0
        if index < bytes.count {
            let sign: Int
            switch bytes[index] {
            case 43: sign = 1
            case 45: sign = -1
            case 90: sign = 0
            default: return nil
            }
            index += 1
            if sign != 0 {
                guard let offsetHours = number(index, 2) else { return nil }
                index += 2
                var offsetMinutes = 0
                if index < bytes.count, bytes[index] == 58 { index += 1 }
                if let minutes = number(index, 2) { offsetMinutes = minutes }
                offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
            }
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let epoch = Double(days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds) + fraction
        return Date(timeIntervalSince1970: epoch)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let adjustedYear = month <= 2 ? year - 1 : year
        let era = (adjustedYear >= 0 ? adjustedYear : adjustedYear - 399) / 400
        let yearOfEra = adjustedYear - era * 400
        let monthIndex = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * monthIndex + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
