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
            for instant in instants(onDay: LocalDay(daysSinceEpoch: dayNumber), in: timeZone) where instant > first && instant <= last {
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
            let later = instants(onDay: LocalDay(daysSinceEpoch: dayNumber), in: timeZone).filter { $0 > first }
            if let earliest = later.min() {
                // A wall time shifted past midnight by a gap may come after the next day's first instant.
                let following = instants(onDay: LocalDay(daysSinceEpoch: dayNumber + 1), in: timeZone).filter { $0 > first }
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

    /// The instants (Unix seconds) of the wall times this schedule has on `day`.
    func instants(onDay day: LocalDay, in timeZone: TimeZone) -> [Int64] {
        guard matches(day) else { return [] }
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

    static func offset(_ timeZone: TimeZone, _ instant: Int64) -> Int64 {
        Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }

    static func seconds(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded(.down))
    }
}

/// A calendar date (proleptic Gregorian) with its day of the week, counted in days since 1970-01-01.
struct LocalDay: Equatable {
    let year: Int
    let month: Int
    let day: Int
    /// 0 (Sunday) to 6 (Saturday).
    let weekday: Int
    let daysSinceEpoch: Int

    init(daysSinceEpoch days: Int) {
        // Howard Hinnant's civil_from_days.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday (4)
        daysSinceEpoch = days
    }

    /// The day number of a wall time counted in seconds since 1970-01-01 00:00.
    static func daysSinceEpoch(ofWallSeconds seconds: Int64) -> Int {
        Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
    }
}
