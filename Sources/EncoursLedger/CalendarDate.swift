/// A day of the Gregorian calendar (year, month, day), with no time and no time zone.
///
/// Stored as a count of days since 1970-01-01, so comparing, adding days and counting days
/// between two dates are integer operations. Years 1 to 9999 are supported. Encodes to and
/// decodes from its ISO 8601 form `YYYY-MM-DD`.
public struct CalendarDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Days since 1970-01-01 (which is day 0); negative before it.
    public let daysSinceEpoch: Int

    /// The day number of 0001-01-01, the earliest supported date.
    static let earliestDay = CalendarDate.dayNumber(year: 1, month: 1, day: 1)
    /// The day number of 9999-12-31, the latest supported date.
    static let latestDay = CalendarDate.dayNumber(year: 9999, month: 12, day: 31)

    /// Creates a date from its parts; `nonexistentDate` for 2026-02-30, month 13 or years outside 1–9999.
    public init(year: Int, month: Int, day: Int) throws(LedgerError) {
        guard (1...9999).contains(year), (1...12).contains(month),
              day >= 1, day <= CalendarDate.daysInMonth(year: year, month: month)
        else {
            throw LedgerError(.nonexistentDate, "no such date", value: CalendarDate.isoText(year: year, month: month, day: day))
        }
        daysSinceEpoch = CalendarDate.dayNumber(year: year, month: month, day: day)
    }

    /// Creates the date `daysSinceEpoch` days after 1970-01-01; `nonexistentDate` outside years 1–9999.
    public init(daysSinceEpoch: Int) throws(LedgerError) {
        guard daysSinceEpoch >= CalendarDate.earliestDay && daysSinceEpoch <= CalendarDate.latestDay else {
            throw LedgerError(.nonexistentDate, "date outside years 1 to 9999", value: "day \(daysSinceEpoch) since 1970-01-01")
        }
        self.daysSinceEpoch = daysSinceEpoch
    }

    /// Creates a date from a day number already known to be in range.
    init(validatedDay: Int) {
        daysSinceEpoch = validatedDay
    }

    /// Reads `YYYY-MM-DD` (ISO 8601) or `DD/MM/YYYY` (French), surrounding spaces allowed.
    ///
    /// The ISO form needs two-digit month and day; the French form accepts one or two digits for
    /// day and month (`5/3/2025`, as spreadsheets write it) and always a four-digit year. A time
    /// after the date, a two-digit year or any other form is `invalidDate`; a well-formed date that
    /// does not exist (`29/02/2025`) is `nonexistentDate`.
    public init(parsing text: String) throws(LedgerError) {
        self = try TextBytes.withBytes(of: text) { bytes throws(LedgerError) in
            try CalendarDate.parse(bytes)
        }
    }

    /// Reads a date typed for a command's `option` (`--date`, `--as-of`, `DATE`): the forms of
    /// ``init(parsing:)``, in years 1900–2999 as imports accept them (a wider range only lets
    /// typos through). The error's message is one line naming the option and the value:
    /// `invalid --date "2026-02-30": no such date`.
    public init(commandLine text: String, option: String) throws(LedgerError) {
        let shown = "invalid \(option) \"\(text.prefix(40))\""
        let date: CalendarDate
        do { date = try CalendarDate(parsing: text) } catch {
            throw LedgerError(error.code, "\(shown): " + (error.code == .nonexistentDate ? "no such date" : "expected YYYY-MM-DD or DD/MM/YYYY"))
        }
        guard ImportParser.acceptedYears.contains(date.year) else {
            let years = ImportParser.acceptedYears
            throw LedgerError(.nonexistentDate, "\(shown): the year must be between \(years.lowerBound) and \(years.upperBound)")
        }
        self = date
    }

    /// Reads a date from UTF-8 bytes; see ``init(parsing:)``.
    static func parse(_ raw: UnsafeBufferPointer<UInt8>) throws(LedgerError) -> CalendarDate {
        let bytes = TextBytes.trimmed(raw)
        func number(_ range: Range<Int>) -> Int? {
            guard !range.isEmpty else { return nil }
            var value = 0
            for index in range {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int(digit)
            }
            return value
        }
        func notADate() -> LedgerError {
            LedgerError(
                .invalidDate, "not a date (expected YYYY-MM-DD or DD/MM/YYYY)",
                value: String(decoding: bytes, as: UTF8.self))
        }

        let year: Int
        let month: Int
        let day: Int
        if bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") {
            guard let parsedYear = number(0..<4), let parsedMonth = number(5..<7), let parsedDay = number(8..<10) else {
                throw notADate()
            }
            (year, month, day) = (parsedYear, parsedMonth, parsedDay)
        } else {
            guard let firstSlash = bytes.firstIndex(of: UInt8(ascii: "/")),
                  let secondSlash = bytes[(firstSlash + 1)...].firstIndex(of: UInt8(ascii: "/")),
                  (1...2).contains(firstSlash),
                  (1...2).contains(secondSlash - firstSlash - 1),
                  bytes.count - secondSlash - 1 == 4,
                  let parsedDay = number(0..<firstSlash),
                  let parsedMonth = number((firstSlash + 1)..<secondSlash),
                  let parsedYear = number((secondSlash + 1)..<bytes.count)
            else {
                throw notADate()
            }
            (year, month, day) = (parsedYear, parsedMonth, parsedDay)
        }
        guard (1...9999).contains(year), (1...12).contains(month),
              day >= 1, day <= CalendarDate.daysInMonth(year: year, month: month)
        else {
            throw LedgerError(.nonexistentDate, "no such date", value: String(decoding: bytes, as: UTF8.self))
        }
        return CalendarDate(validatedDay: CalendarDate.dayNumber(year: year, month: month, day: day))
    }

    /// The year, month and day of this date.
    public var components: (year: Int, month: Int, day: Int) {
        CalendarDate.civil(fromDayNumber: daysSinceEpoch)
    }

    /// The year (1–9999).
    public var year: Int { components.year }
    /// The month (1–12).
    public var month: Int { components.month }
    /// The day of the month (1–31).
    public var day: Int { components.day }

    /// The day of the week.
    public var weekday: Weekday {
        // 1970-01-01 was a Thursday (ISO number 4).
        let offset = ((daysSinceEpoch + 3) % 7 + 7) % 7
        return Weekday(rawValue: offset + 1) ?? .monday
    }

    /// The date `days` days later (earlier when negative); `nonexistentDate` past years 1–9999.
    public func adding(days: Int) throws(LedgerError) -> CalendarDate {
        let (result, overflow) = daysSinceEpoch.addingReportingOverflow(days)
        guard !overflow else {
            throw LedgerError(.nonexistentDate, "date outside years 1 to 9999", value: "\(self) + \(days) days")
        }
        return try CalendarDate(daysSinceEpoch: result)
    }

    /// The number of days from `other` to this date: positive when this date is later.
    ///
    /// Days overdue at date D are `D.days(since: dueDate)` (SPEC §4).
    public func days(since other: CalendarDate) -> Int {
        daysSinceEpoch - other.daysSinceEpoch
    }

    /// The ISO 8601 form `YYYY-MM-DD`.
    public var isoString: String {
        let (year, month, day) = components
        return CalendarDate.isoText(year: year, month: month, day: day)
    }

    /// The ISO 8601 form `YYYY-MM-DD`.
    public var description: String { isoString }

    /// Orders dates chronologically.
    public static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool {
        lhs.daysSinceEpoch < rhs.daysSinceEpoch
    }

    /// Decodes a date from its `YYYY-MM-DD` string; any other form is a decoding error.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        let date = try CalendarDate(parsing: text)
        guard date.isoString == text else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a date as YYYY-MM-DD, found \"\(text)\"")
        }
        self = date
    }

    /// Encodes the date as its `YYYY-MM-DD` string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(isoString)
    }

    /// True for years divisible by 4, except centuries not divisible by 400.
    public static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    /// The number of days in `month` of `year` (0 for a month outside 1–12).
    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 1, 3, 5, 7, 8, 10, 12: return 31
        case 4, 6, 9, 11: return 30
        case 2: return isLeapYear(year) ? 29 : 28
        default: return 0
        }
    }

    /// Days since 1970-01-01 of a valid proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The year, month and day of a day number (H. Hinnant's `civil_from_days`).
    static func civil(fromDayNumber dayNumber: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = dayNumber + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// `YYYY-MM-DD` with zero padding, for valid and invalid parts alike (used in messages).
    static func isoText(year: Int, month: Int, day: Int) -> String {
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
    }
}

/// A day of the week, numbered as ISO 8601 does: Monday is 1, Sunday is 7.
public enum Weekday: Int, Sendable, Hashable, CaseIterable, Comparable {
    /// Monday (1).
    case monday = 1
    /// Tuesday (2).
    case tuesday
    /// Wednesday (3).
    case wednesday
    /// Thursday (4).
    case thursday
    /// Friday (5).
    case friday
    /// Saturday (6).
    case saturday
    /// Sunday (7).
    case sunday

    /// True for Saturday and Sunday.
    public var isWeekend: Bool { self == .saturday || self == .sunday }

    /// Orders days from Monday to Sunday.
    public static func < (lhs: Weekday, rhs: Weekday) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}
