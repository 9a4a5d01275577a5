import EncoursLedger
import Foundation

extension CronSchedule {
    /// The instants of this schedule in `timeZone` strictly after `start` and at or before `end`,
    /// in order, each once.
    ///
    /// Daylight-saving changes: a wall time the change skips (02:30 on the night clocks go
    /// forward) happens right after the change, shifted forward by the gap (03:30); a wall time
    /// the change repeats (02:30 on the night clocks go back) happens once, at its first
    /// occurrence. Two wall times landing on one instant give it once.
    public func instants(after start: Date, through end: Date, in timeZone: TimeZone) -> [Date] {
        let (first, last) = (Self.seconds(start), Self.seconds(end))
        guard first < last else { return [] }
        // A day's instants lie within a day of its local midnight read as UTC (offsets stay under 15 h,
        // gaps under a few hours): the days around the window are enough.
        let firstDay = LocalDay.daysSinceEpoch(ofWallSeconds: first + Self.offset(timeZone, first)) - 1
        let lastDay = LocalDay.daysSinceEpoch(ofWallSeconds: last + Self.offset(timeZone, last)) + 1
        var found = Set<Int64>()
        for dayNumber in firstDay...lastDay {
            for instant in instants(onDay: dayNumber, in: timeZone) where instant > first && instant <= last {
                found.insert(instant)
            }
        }
        return found.sorted().map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// The first instant of this schedule strictly after `start` in `timeZone` (nil past 2999,
    /// which a parsed schedule only reaches for 29 February when no leap year is left).
    public func next(after start: Date, in timeZone: TimeZone) -> Date? {
        let first = Self.seconds(start)
        var dayNumber = LocalDay.daysSinceEpoch(ofWallSeconds: first + Self.offset(timeZone, first)) - 1
        let lastDay = LocalDay.daysSinceEpoch(ofWallSeconds: 32_503_680_000)  // 3000-01-01
        while dayNumber <= lastDay {
            let later = instants(onDay: dayNumber, in: timeZone).filter { $0 > first }
            if let earliest = later.min() {
                // A wall time shifted past midnight by a gap may come after the next day's first instant.
                let following = instants(onDay: dayNumber + 1, in: timeZone).filter { $0 > first }
                return Date(timeIntervalSince1970: TimeInterval(min(earliest, following.min() ?? earliest)))
            }
            dayNumber += 1
        }
        return nil
    }

    /// The next `count` instants after `start` (fewer when the schedule ends first).
    public func upcoming(_ count: Int, after start: Date, in timeZone: TimeZone) -> [Date] {
        var instants: [Date] = []
        var cursor = start
        while instants.count < count, let next = next(after: cursor, in: timeZone) {
            instants.append(next)
            cursor = next
        }
        return instants
    }

    /// The instants (Unix seconds) of the wall times this schedule has on day `dayNumber` (days since 1970-01-01).
    func instants(onDay dayNumber: Int, in timeZone: TimeZone) -> [Int64] {
        guard let day = LocalDay(daysSinceEpoch: dayNumber), matches(day) else { return [] }
        let midnight = Int64(day.daysSinceEpoch) * 86_400
        var instants: [Int64] = []
        for hour in hours.sorted() {
            for minute in minutes.sorted() {
                instants.append(Self.instant(ofWall: midnight + Int64(hour * 3600 + minute * 60), in: timeZone))
            }
        }
        return instants
    }

    /// The instant at which clocks in `timeZone` show `wall` (a local date and time counted in
    /// seconds as if it were UTC), by the rules of ``instants(after:through:in:)``.
    static func instant(ofWall wall: Int64, in timeZone: TimeZone) -> Int64 {
        let earlier = offset(timeZone, wall - 86_400)
        let later = offset(timeZone, wall + 86_400)
        let candidates = Set([earlier, later]).map { wall - $0 }.filter { wall - offset(timeZone, $0) == $0 }
        // None: the change skipped this wall time; read it with the offset before the change.
        return candidates.min() ?? wall - earlier
    }

    /// The calendar date clocks in `timeZone` show at `instant` (a scheduled run's as-of date).
    public static func localDate(of instant: Date, in timeZone: TimeZone) throws -> CalendarDate {
        let seconds = Self.seconds(instant)
        return try CalendarDate(daysSinceEpoch: LocalDay.daysSinceEpoch(ofWallSeconds: seconds + offset(timeZone, seconds)))
    }

    static func offset(_ timeZone: TimeZone, _ instant: Int64) -> Int64 {
        Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }

    static func seconds(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded(.down))
    }
}

/// A calendar date with its day of the week the way cron counts it, by day number since 1970-01-01.
struct LocalDay {
    let month: Int
    let day: Int
    /// 0 (Sunday) to 6 (Saturday).
    let weekday: Int
    let daysSinceEpoch: Int

    /// Nil outside the years a ``CalendarDate`` holds (1–9999).
    init?(daysSinceEpoch days: Int) {
        guard let date = try? CalendarDate(daysSinceEpoch: days) else { return nil }
        (month, day) = (date.month, date.day)
        weekday = date.weekday.rawValue % 7  // Weekday counts Monday 1 … Sunday 7
        daysSinceEpoch = days
    }

    /// The day number of a wall time counted in seconds since 1970-01-01 00:00.
    static func daysSinceEpoch(ofWallSeconds seconds: Int64) -> Int {
        Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
    }
}
