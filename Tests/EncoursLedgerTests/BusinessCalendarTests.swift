import Testing

@testable import EncoursLedger

@Suite("Business days and French public holidays")
struct BusinessCalendarTests {
    func date(_ text: String) throws -> CalendarDate { try CalendarDate(parsing: text) }

    @Test("Easter Sunday matches the published dates")
    func easter() throws {
        #expect(try BusinessCalendar.easterSunday(year: 2025) == date("2025-04-20"))
        #expect(try BusinessCalendar.easterSunday(year: 2026) == date("2026-04-05"))
        #expect(try BusinessCalendar.easterSunday(year: 2027) == date("2027-03-28"))
        #expect(try BusinessCalendar.easterSunday(year: 2028) == date("2028-04-16"))
    }

    @Test("French holidays include the movable feasts; Alsace-Moselle adds two days")
    func holidays() throws {
        let france = try BusinessCalendar(holidays: .fr).publicHolidays(year: 2026)
        #expect(france.count == 11)
        for day in ["2026-04-06", "2026-05-14", "2026-05-25", "2026-07-14", "2026-11-11", "2026-12-25"] {
            #expect(france.contains(try date(day)), "\(day)")
        }
        let alsace = try BusinessCalendar(holidays: .frAlsaceMoselle).publicHolidays(year: 2026)
        #expect(alsace.count == 13)
        #expect(alsace.contains(try date("2026-04-03")))
        #expect(alsace.contains(try date("2026-12-26")))
        #expect(try BusinessCalendar(holidays: .none).publicHolidays(year: 2026).isEmpty)
    }

    @Test("the N-th business day after a date skips weekends and holidays")
    func addingBusinessDays() throws {
        let calendar = BusinessCalendar(holidays: .fr)
        // Friday 2026-11-06 + 5: Mon 9, Tue 10, (Wed 11 is Armistice), Thu 12, Fri 13, Mon 16.
        #expect(try calendar.adding(businessDays: 5, to: date("2026-11-06")) == date("2026-11-16"))
        // Over Christmas and New Year: Thu 24 Dec 2026 + 3: Mon 28, Tue 29, Wed 30.
        #expect(try calendar.adding(businessDays: 3, to: date("2026-12-24")) == date("2026-12-30"))
        #expect(try calendar.adding(businessDays: 0, to: date("2026-12-25")) == date("2026-12-25"))
        #expect(try BusinessCalendar(holidays: .none).adding(businessDays: 1, to: date("2026-11-10")) == date("2026-11-11"))
        #expect(try calendar.isBusinessDay(date("2026-11-11")) == false)
        #expect(try calendar.isBusinessDay(date("2026-11-12")))
    }
}
