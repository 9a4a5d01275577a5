/// A five-field cron expression (minute, hour, day of month, month, day of week), read the way
/// Vixie cron and its descendants read it, evaluated in a time zone by ``instants(after:through:in:)``.
///
/// Each field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n` (or `a/n`: from `a` to the
/// field's end), or a comma-separated list of these. Months may be named `jan`–`dec` and days of
/// week `sun`–`sat` (any case); day of week 0 and 7 are both Sunday. When both the day of month
/// and the day of week are restricted (neither starts with `*`), a day matches if either does.
/// The macros `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and
/// `@hourly` stand for their usual expressions.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    /// The expression as given (trimmed).
    public let expression: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    /// 0 (Sunday) to 6 (Saturday).
    let daysOfWeek: Set<Int>
    let daysOfMonthRestricted: Bool
    let daysOfWeekRestricted: Bool

    public var description: String { expression }

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    /// The fields: name, range, and the names standing for numbers (from the range's start).
    static let fields: [(name: String, range: ClosedRange<Int>, names: [String])] = [
        ("minute", 0...59, []), ("hour", 0...23, []), ("day of month", 1...31, []),
        ("month", 1...12, monthNames), ("day of week", 0...7, dayNames),
    ]

    /// Parses `expression`; throws a one-line ``ScheduleError`` naming the field and the value at fault.
    public init(_ expression: String) throws(ScheduleError) {
        let trimmed = expression.trimmingWhitespace()
        let text = Self.macros[trimmed.lowercased()] ?? trimmed
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw ScheduleError(
                "\"\(Self.excerpt(trimmed))\" has \(parts.count) field\(parts.count == 1 ? "" : "s"); a cron expression has 5 "
                    + "(minute hour day-of-month month day-of-week), e.g. \"0 7 * * 1-5\"")
        }
        var sets: [Set<Int>] = []
        for (part, field) in zip(parts, Self.fields) {
            sets.append(try Self.parseField(part, field: field))
        }
        self.expression = trimmed
        minutes = sets[0]
        hours = sets[1]
        daysOfMonth = sets[2]
        months = sets[3]
        daysOfWeek = Set(sets[4].map { $0 % 7 })
        daysOfMonthRestricted = !parts[2].hasPrefix("*")
        daysOfWeekRestricted = !parts[4].hasPrefix("*")
        if daysOfMonthRestricted && !daysOfWeekRestricted {
            // Only the day of month decides: some month of the list must have one of its days.
            guard months.contains(where: { month in daysOfMonth.contains { $0 <= Self.longestMonth(month) } }) else {
                throw ScheduleError("\"\(Self.excerpt(trimmed))\" never happens: no month of the list has those days")
            }
        }
    }

    /// Whether `expression` parses.
    public static func isValid(_ expression: String) -> Bool {
        (try? CronSchedule(expression)) != nil
    }

    /// Whether the schedule runs on this local date.
    func matches(_ day: LocalDay) -> Bool {
        guard months.contains(day.month) else { return false }
        let byMonthDay = daysOfMonth.contains(day.day)
        let byWeekDay = daysOfWeek.contains(day.weekday)
        switch (daysOfMonthRestricted, daysOfWeekRestricted) {
        case (true, true): return byMonthDay || byWeekDay
        case (true, false): return byMonthDay
        case (false, true): return byWeekDay
        case (false, false): return true
        }
    }

    /// The most days month `month` can have (29 for February).
    static func longestMonth(_ month: Int) -> Int {
        switch month {
        case 2: 29
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func parseField(_ text: String, field: (name: String, range: ClosedRange<Int>, names: [String])) throws(ScheduleError)
        -> Set<Int>
    {
        func bad(_ why: String) -> ScheduleError {
            ScheduleError("\(field.name) \"\(excerpt(text))\": \(why)")
        }
        func number(_ token: Substring) throws(ScheduleError) -> Int {
            if let index = field.names.firstIndex(of: token.lowercased()) { return field.range.lowerBound == 0 ? index : index + 1 }
            guard !token.isEmpty, token.allSatisfy(\.isASCIIDigit), token.count <= 4, let value = Int(token) else {
                throw bad("\"\(excerpt(String(token)))\" is not a number")
            }
            guard field.range.contains(value) else {
                throw bad("\(value) is outside \(field.range.lowerBound)-\(field.range.upperBound)")
            }
            return value
        }
        var values = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw bad("more than one / in \"\(item)\"") }
            var step = 1
            if stepParts.count == 2 {
                guard stepParts[1].allSatisfy(\.isASCIIDigit), stepParts[1].count <= 4, let value = Int(stepParts[1]), value > 0 else {
                    throw bad("the step \"\(excerpt(String(stepParts[1])))\" is not a whole number above 0")
                }
                step = value
            }
            let base = stepParts[0]
            let lower: Int
            let upper: Int
            if base == "*" {
                (lower, upper) = (field.range.lowerBound, field.range.upperBound)
            } else {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw bad("\"\(base)\" is not a range a-b") }
                lower = try number(bounds[0])
                upper = bounds.count == 2 ? try number(bounds[1]) : (stepParts.count == 2 ? field.range.upperBound : lower)
                guard lower <= upper else { throw bad("the range \(lower)-\(upper) runs backwards") }
            }
            values.formUnion(stride(from: lower, through: upper, by: step))
        }
        return values
    }

    static func excerpt(_ text: String) -> String {
        let line = String(text.prefix(40).map { $0.isNewline ? " " : $0 })
        return text.count > 40 ? line + "…" : line
    }
}

/// A schedule that cannot be read, with a one-line reason.
public struct ScheduleError: Error, Equatable, CustomStringConvertible, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
