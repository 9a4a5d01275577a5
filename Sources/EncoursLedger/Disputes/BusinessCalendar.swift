/// Business days: Monday to Friday, minus public holidays (SPEC §7, REFERENCE "French public holidays").
public struct BusinessCalendar: Sendable, Hashable {
    /// Which public holidays are days off.
    public enum Holidays: String, Sendable, Hashable, CaseIterable {
        /// The French public holidays.
        case fr
        /// France plus Good Friday and 26 December (Alsace-Moselle).
        case frAlsaceMoselle = "fr-alsace-moselle"
        /// Weekends only.
        case none
    }

    public let holidays: Holidays

    public init(holidays: Holidays = .fr) { self.holidays = holidays }

    /// Easter Sunday of a Gregorian year (anonymous Gregorian computus, Meeus/Jones/Butcher).
    public static func easterSunday(year: Int) throws(LedgerError) -> CalendarDate {
        let a = year % 19, b = year / 100, c = year % 100
        let d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3
        let h = (19 * a + b - d - g + 15) % 30
        let i = c / 4, k = c % 4
        let l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        let month = (h + l - 7 * m + 114) / 31
        let day = (h + l - 7 * m + 114) % 31 + 1
        return try CalendarDate(year: year, month: month, day: day)
    }

    /// The public holidays of `year` under this calendar.
    public func publicHolidays(year: Int) throws(LedgerError) -> Set<CalendarDate> {
        guard holidays != .none else { return [] }
        var days: Set<CalendarDate> = []
        for (month, day) in [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)] {
            days.insert(try CalendarDate(year: year, month: month, day: day))
        }
        let easter = try Self.easterSunday(year: year)
        for offset in [1, 39, 50] { days.insert(try easter.adding(days: offset)) }
        if holidays == .frAlsaceMoselle {
            days.insert(try easter.adding(days: -2))
            days.insert(try CalendarDate(year: year, month: 12, day: 26))
        }
        return days
    }

    /// True on a weekday that is not a public holiday.
    public func isBusinessDay(_ date: CalendarDate) throws(LedgerError) -> Bool {
        if date.weekday.isWeekend { return false }
        return !(try publicHolidays(year: date.year).contains(date))
    }

    /// The `count`-th business day after `date` (`count` ≥ 0; 0 returns `date`).
    public func adding(businessDays count: Int, to date: CalendarDate) throws(LedgerError) -> CalendarDate {
        var current = date
        var left = count
        while left > 0 {
            current = try current.adding(days: 1)
            if try isBusinessDay(current) { left -= 1 }
        }
        return current
    }
}
