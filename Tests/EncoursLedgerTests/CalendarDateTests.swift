import Foundation
import Testing
@testable import EncoursLedger

@Suite("CalendarDate")
struct CalendarDateTests {
    @Test("ISO and French forms read the same day")
    func bothForms() throws {
        let iso = try CalendarDate(parsing: "2025-01-15")
        let french = try CalendarDate(parsing: "15/01/2025")
        #expect(iso == french)
        #expect(iso.components == (2025, 1, 15))
        #expect(try CalendarDate(parsing: " 5/3/2025 ").isoString == "2025-03-05")
    }

    @Test("leap years: 29 February exists in 2024 and 2000, not in 2025 or 1900")
    func leapYears() throws {
        #expect(try CalendarDate(parsing: "29/02/2024").isoString == "2024-02-29")
        #expect(try CalendarDate(parsing: "2000-02-29").isoString == "2000-02-29")
        for text in ["29/02/2025", "1900-02-29"] {
            let error = #expect(throws: LedgerError.self) { try CalendarDate(parsing: text) }
            #expect(error?.code == .nonexistentDate, "\(text)")
            #expect(error?.description == "no such date (\"\(text)\")")
        }
    }

    @Test("well-formed dates that do not exist", arguments: [
        "2026-02-30", "31/04/2025", "2025-13-01", "00/01/2025", "2025-01-00", "32/01/2025", "0000-01-01",
    ])
    func nonexistent(text: String) {
        let error = #expect(throws: LedgerError.self) { try CalendarDate(parsing: text) }
        #expect(error?.code == .nonexistentDate)
    }

    @Test("other forms are not dates", arguments: [
        "2025-1-15", "15-01-2025", "15/01/25", "2025/01/15", "2025-01-15T00:00:00", "", "15.01.2025",
        "15/01/2025 10:00", "2025-01-1x", "115/01/2025", "1/1/20255", "//2025",
    ])
    func malformed(text: String) {
        let error = #expect(throws: LedgerError.self) { try CalendarDate(parsing: text) }
        #expect(error?.code == .invalidDate)
        #expect(error?.message == "not a date (expected YYYY-MM-DD or DD/MM/YYYY)")
    }

    @Test("day numbers: 1970-01-01 is 0, 2000-03-01 is 11017, 1969-12-31 is -1")
    func dayNumbers() throws {
        #expect(try CalendarDate(year: 1970, month: 1, day: 1).daysSinceEpoch == 0)
        #expect(try CalendarDate(year: 2000, month: 3, day: 1).daysSinceEpoch == 11_017)
        #expect(try CalendarDate(year: 1969, month: 12, day: 31).daysSinceEpoch == -1)
        #expect(try CalendarDate(daysSinceEpoch: 20_103).isoString == "2025-01-15")
    }

    @Test("adding days crosses month, year and leap-day boundaries")
    func addingDays() throws {
        let newYearsEve = try CalendarDate(parsing: "2024-12-31")
        #expect(try newYearsEve.adding(days: 1).isoString == "2025-01-01")
        #expect(try CalendarDate(parsing: "2024-02-28").adding(days: 1).isoString == "2024-02-29")
        #expect(try CalendarDate(parsing: "2025-02-28").adding(days: 1).isoString == "2025-03-01")
        #expect(try CalendarDate(parsing: "2025-03-01").adding(days: -1).isoString == "2025-02-28")
        #expect(try newYearsEve.adding(days: 60).isoString == "2025-03-01")
    }

    @Test("days between dates: days overdue = D - due date")
    func daysBetween() throws {
        let due = try CalendarDate(parsing: "15/01/2025")
        let asOf = try CalendarDate(parsing: "2025-03-01")
        #expect(asOf.days(since: due) == 45)
        #expect(due.days(since: asOf) == -45)
        #expect(try CalendarDate(parsing: "2025-01-01").days(since: CalendarDate(parsing: "2024-01-01")) == 366)
    }

    @Test("leaving years 1–9999 is an error, not a trap")
    func outOfRange() throws {
        let last = try CalendarDate(parsing: "9999-12-31")
        #expect(throws: LedgerError.self) { try last.adding(days: 1) }
        #expect(throws: LedgerError.self) { try last.adding(days: Int.max) }
        #expect(throws: LedgerError.self) { try CalendarDate(daysSinceEpoch: Int.min) }
        #expect(throws: LedgerError.self) { try CalendarDate(year: 10_000, month: 1, day: 1) }
        #expect(try CalendarDate(year: 1, month: 1, day: 1).isoString == "0001-01-01")
    }

    @Test("weekdays, before and after 1970", arguments: [
        ("2025-01-01", Weekday.wednesday), ("2024-02-29", .thursday), ("1970-01-01", .thursday),
        ("1969-12-31", .wednesday), ("2026-04-05", .sunday), ("2025-07-14", .monday), ("1900-01-01", .monday),
    ])
    func weekdays(text: String, weekday: Weekday) throws {
        #expect(try CalendarDate(parsing: text).weekday == weekday)
    }

    @Test("every day of 1899–2100 survives parts → day number → parts, one day apart")
    func roundTripOverTwoCenturies() throws {
        var previous = try CalendarDate(year: 1899, month: 12, day: 31)
        for year in 1900...2100 {
            for month in 1...12 {
                for day in 1...CalendarDate.daysInMonth(year: year, month: month) {
                    let date = try CalendarDate(year: year, month: month, day: day)
                    guard date.days(since: previous) == 1, date.components == (year, month, day) else {
                        Issue.record("\(year)-\(month)-\(day) gives \(date.components), day \(date.daysSinceEpoch)")
                        return
                    }
                    previous = date
                }
            }
        }
        #expect(previous.isoString == "2100-12-31")
    }

    @Test("ordering, hashing and Codable as an ISO string")
    func orderingAndCodable() throws {
        let dates = try ["2025-03-01", "01/01/2025", "2024-12-31"].map { try CalendarDate(parsing: $0) }
        #expect(dates.sorted().map(\.isoString) == ["2024-12-31", "2025-01-01", "2025-03-01"])
        #expect(Set(dates + dates).count == 3)
        let data = try JSONEncoder().encode(["due": dates[0]])
        #expect(String(decoding: data, as: UTF8.self) == "{\"due\":\"2025-03-01\"}")
        let decoded = try JSONDecoder().decode([CalendarDate].self, from: Data("[\"2025-03-01\",\"2024-02-29\"]".utf8))
        #expect(decoded.map(\.isoString) == ["2025-03-01", "2024-02-29"])
        for invalid in ["2025-02-30", "15/01/2025", " 2025-01-15"] {
            #expect(throws: (any Error).self, "\(invalid)") {
                try JSONDecoder().decode([CalendarDate].self, from: Data("[\"\(invalid)\"]".utf8))
            }
        }
    }
    @Test("a date typed for a command: one line naming the option and the value, years 1900 to 2999")
    func commandLineDates() throws {
        #expect(try CalendarDate(commandLine: " 05/03/2026 ", option: "--date").isoString == "2026-03-05")
        #expect(try CalendarDate(commandLine: "2999-12-31", option: "--as-of").isoString == "2999-12-31")
        let cases = [
            ("2026-02-30", "invalid --date \"2026-02-30\": no such date"),
            ("30/02/2026", "invalid --date \"30/02/2026\": no such date"),
            ("2026-2-3", "invalid --date \"2026-2-3\": expected YYYY-MM-DD or DD/MM/YYYY"),
            ("tomorrow", "invalid --date \"tomorrow\": expected YYYY-MM-DD or DD/MM/YYYY"),
            ("3026-01-15", "invalid --date \"3026-01-15\": the year must be between 1900 and 2999"),
            ("0202-01-15", "invalid --date \"0202-01-15\": the year must be between 1900 and 2999"),
        ]
        for (text, message) in cases {
            #expect(throws: LedgerError.self, "\(text)") { try CalendarDate(commandLine: text, option: "--date") }
            do {
                _ = try CalendarDate(commandLine: text, option: "--date")
            } catch {
                #expect(error.message == message)
            }
        }
        // A long value is cut in the message, which stays one line.
        do {
            _ = try CalendarDate(commandLine: String(repeating: "9", count: 500), option: "--as-of")
            Issue.record("500 nines were read as a date")
        } catch {
            #expect(error.message.count < 100 && !error.message.contains("\n"), "\(error.message)")
        }
    }
}
