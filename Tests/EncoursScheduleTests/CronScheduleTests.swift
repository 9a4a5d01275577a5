import EncoursSchedule
import Foundation
import Testing

@Suite("cron schedules in a time zone")
struct CronScheduleTests {
    let paris = TimeZone(identifier: "Europe/Paris")!
    let newYork = TimeZone(identifier: "America/New_York")!
    let utc = TimeZone(identifier: "UTC")!

    /// An instant from ISO 8601 text with its offset (`2026-12-04T06:00:00Z`).
    func at(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text)!
    }

    func iso(_ dates: [Date]) -> [String] {
        let formatter = ISO8601DateFormatter()
        return dates.map { formatter.string(from: $0) }
    }

    @Test("refuses what cron would not run, naming the field and the value")
    func refusals() {
        let cases: [(String, String)] = [
            ("0 7 * *", "has 4 fields; a cron expression has 5"),
            ("61 * * * *", "minute \"61\": 61 is outside 0-59"),
            ("0 24 * * *", "hour \"24\": 24 is outside 0-23"),
            ("0 0 0 * *", "day of month \"0\": 0 is outside 1-31"),
            ("0 0 * 13 *", "month \"13\": 13 is outside 1-12"),
            ("0 0 * * 8", "day of week \"8\": 8 is outside 0-7"),
            ("*/0 * * * *", "minute \"*/0\": the step \"0\" is not a whole number above 0"),
            ("0 5-1 * * *", "hour \"5-1\": the range 5-1 runs backwards"),
            ("0 x * * *", "hour \"x\": \"x\" is not a number"),
            ("0 0 31 2 *", "never happens"),
            ("0 0 30 feb *", "never happens"),
            ("1/2/3 * * * *", "more than one /"),
            ("", "has 0 fields"),
        ]
        for (expression, message) in cases {
            #expect(throws: ScheduleError.self) { try CronSchedule(expression) }
            do {
                _ = try CronSchedule(expression)
            } catch {
                #expect(error.message.contains(message), "\(expression): \(error.message)")
            }
        }
        #expect(!CronSchedule.isValid("0 0 31 4 *"))
        // Both days restricted: the 31st of April never comes, but Mondays do.
        #expect(CronSchedule.isValid("0 0 31 4 1"))
    }

    @Test("accepts lists, ranges, steps, names, Sunday as 7 and the macros")
    func forms() throws {
        for expression in ["0 7 * * 1-5", "*/15 8-18 * * mon-fri", "0,30 9 1,15 * *", "0 9 * jan-mar,dec *", "5-50/5 * * * *",
                           "0 0/6 * * *", "@daily", "@HOURLY", " 0 7 * * * ", "0 12 * * SUN"] {
            #expect(CronSchedule.isValid(expression), "\(expression)")
        }
        let start = at("2026-12-01T00:00:00Z")
        // Sunday written 0, 7 or sun is the same day (6 December 2026).
        for expression in ["0 12 * * 0", "0 12 * * 7", "0 12 * * sun"] {
            #expect(iso([try CronSchedule(expression).next(after: start, in: utc)!]) == ["2026-12-06T12:00:00Z"])
        }
        #expect(try CronSchedule("@weekly") == CronSchedule("@weekly"))
        #expect(iso(try CronSchedule("@monthly").upcoming(2, after: start, in: utc)) == ["2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"])
        #expect(iso(try CronSchedule("5-50/20 10 * * *").instants(after: start, through: at("2026-12-01T23:00:00Z"), in: utc))
            == ["2026-12-01T10:05:00Z", "2026-12-01T10:25:00Z", "2026-12-01T10:45:00Z"])
        #expect(iso(try CronSchedule("0 0/8 1 * *").instants(after: start, through: at("2026-12-02T00:00:00Z"), in: utc))
            == ["2026-12-01T08:00:00Z", "2026-12-01T16:00:00Z"])
    }

    @Test("week days in the tenant's zone: 7:00 in Paris is 6:00 UTC in winter and 5:00 in summer")
    func weekdaysInParis() throws {
        let schedule = try CronSchedule("0 7 * * 1-5")
        // Thursday 3 December 2026, 12:00 UTC: next Friday 4th, then Monday 7th.
        #expect(iso(schedule.upcoming(2, after: at("2026-12-03T12:00:00Z"), in: paris)) == ["2026-12-04T06:00:00Z", "2026-12-07T06:00:00Z"])
        #expect(iso([schedule.next(after: at("2026-07-01T00:00:00Z"), in: paris)!]) == ["2026-07-01T05:00:00Z"])
        // The start is excluded, the end included.
        #expect(iso(schedule.instants(after: at("2026-12-04T06:00:00Z"), through: at("2026-12-07T06:00:00Z"), in: paris))
            == ["2026-12-07T06:00:00Z"])
        // Across the new year: Thursday 31 December, Friday 1 January (a holiday is still a week day), Monday 4 January.
        #expect(iso(schedule.instants(after: at("2026-12-31T00:00:00Z"), through: at("2027-01-04T23:59:00Z"), in: paris))
            == ["2026-12-31T06:00:00Z", "2027-01-01T06:00:00Z", "2027-01-04T06:00:00Z"])
    }

    @Test("clocks going forward: a skipped 2:30 runs at 3:30, once; every half hour stays every half hour")
    func springForward() throws {
        // Paris, Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        let daily = try CronSchedule("30 2 * * *")
        #expect(iso(daily.instants(after: at("2026-03-28T00:00:00Z"), through: at("2026-03-31T00:00:00Z"), in: paris))
            == ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"])
        let halfHourly = try CronSchedule("*/30 * * * *")
        #expect(iso(halfHourly.instants(after: at("2026-03-29T00:00:00Z"), through: at("2026-03-29T02:00:00Z"), in: paris))
            == ["2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:00:00Z"])
        // New York, Sunday 8 March 2026: 02:00 EST becomes 03:00 EDT; 2:30 runs at 3:30 EDT (07:30 UTC).
        #expect(iso([daily.next(after: at("2026-03-08T05:00:00Z"), in: newYork)!]) == ["2026-03-08T07:30:00Z"])
        // Next after the shifted instant: the day after, at 2:30 EDT.
        #expect(iso([daily.next(after: at("2026-03-08T07:30:00Z"), in: newYork)!]) == ["2026-03-09T06:30:00Z"])
    }

    @Test("clocks going back: a repeated 2:30 runs once, at its first occurrence")
    func fallBack() throws {
        // Paris, Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET (01:00 UTC).
        let daily = try CronSchedule("30 2 * * *")
        #expect(iso(daily.instants(after: at("2026-10-24T00:00:00Z"), through: at("2026-10-27T00:00:00Z"), in: paris))
            == ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
        // Every half hour: each wall time once, so the repeated hour (01:00 and 01:30 UTC) is not run again.
        let halfHourly = try CronSchedule("*/30 * * * *")
        #expect(iso(halfHourly.instants(after: at("2026-10-24T23:00:00Z"), through: at("2026-10-25T03:00:00Z"), in: paris))
            == ["2026-10-24T23:30:00Z", "2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z",
                "2026-10-25T02:30:00Z", "2026-10-25T03:00:00Z"])
    }

    @Test("day of month or day of week when both are restricted; 29 February waits for a leap year")
    func dayRules() throws {
        // December 2026: Fridays 4, 11, 18, 25, and the 13th (a Sunday).
        let either = try CronSchedule("0 0 13 * 5")
        #expect(iso(either.instants(after: at("2026-12-01T00:00:00Z"), through: at("2026-12-31T23:59:00Z"), in: utc))
            == ["2026-12-04T00:00:00Z", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z", "2026-12-18T00:00:00Z", "2026-12-25T00:00:00Z"])
        // A day-of-week written with a star is no restriction: the 13th only.
        #expect(iso(try CronSchedule("0 0 13 * */1").instants(after: at("2026-12-01T00:00:00Z"), through: at("2026-12-31T23:59:00Z"), in: utc))
            == ["2026-12-13T00:00:00Z"])
        #expect(iso([try CronSchedule("0 0 29 2 *").next(after: at("2026-03-01T00:00:00Z"), in: utc)!]) == ["2028-02-29T00:00:00Z"])
        // 2100 is not a leap year: after 29 February 2096 comes 2104.
        #expect(iso([try CronSchedule("0 0 29 2 *").next(after: at("2096-03-01T00:00:00Z"), in: utc)!]) == ["2104-02-29T00:00:00Z"])
        // The 31st only in months that have one.
        #expect(iso(try CronSchedule("0 0 31 * *").upcoming(3, after: at("2026-12-01T00:00:00Z"), in: utc))
            == ["2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z", "2027-03-31T00:00:00Z"])
    }

    @Test("an instant's date is the one the tenant's clocks show: 23:30 UTC on 31 December is 1 January in Paris")
    func localDates() throws {
        #expect(try CronSchedule.localDate(of: at("2026-12-31T23:30:00Z"), in: paris).isoString == "2027-01-01")
        #expect(try CronSchedule.localDate(of: at("2026-12-31T23:30:00Z"), in: utc).isoString == "2026-12-31")
        #expect(try CronSchedule.localDate(of: at("2027-01-01T03:00:00Z"), in: newYork).isoString == "2026-12-31")
    }

    @Test("zones without daylight saving and with half-hour offsets")
    func otherZones() throws {
        let kolkata = TimeZone(identifier: "Asia/Kolkata")!
        #expect(iso([try CronSchedule("0 9 * * *").next(after: at("2026-12-01T00:00:00Z"), in: kolkata)!]) == ["2026-12-01T03:30:00Z"])
        // Nouméa (UTC+11): Monday 7:00 is Sunday 20:00 UTC.
        let noumea = TimeZone(identifier: "Pacific/Noumea")!
        #expect(iso([try CronSchedule("0 7 * * 1").next(after: at("2026-12-01T00:00:00Z"), in: noumea)!]) == ["2026-12-06T20:00:00Z"])
    }

    @Test("a year of a daily schedule in Paris: 365 instants, one a day at 7:00 local, whatever the season")
    func aYear() throws {
        let instants = try CronSchedule("0 7 * * *").instants(after: at("2026-12-31T12:00:00Z"), through: at("2027-12-31T12:00:00Z"), in: paris)
        #expect(instants.count == 365)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = paris
        #expect(instants.allSatisfy { calendar.component(.hour, from: $0) == 7 && calendar.component(.minute, from: $0) == 0 })
        #expect(Set(instants.map { calendar.ordinality(of: .day, in: .year, for: $0) }).count == 365)
    }
}
