import Testing

@testable import EncoursLedger

@Suite("Disputes: the French calendar across years, the escalation timeline, reasons, outcomes and instants")
struct DisputeRulesTests {
    func date(_ text: String) throws -> CalendarDate { try CalendarDate(parsing: text) }

    @Test("Easter Monday, Ascension Thursday and Whit Monday, 2024 to 2030, as published")
    func movableFeasts() throws {
        // (Easter Sunday, Easter Monday, Ascension, Whit Monday), from the published French calendars.
        let years: [Int: [String]] = [
            2024: ["2024-03-31", "2024-04-01", "2024-05-09", "2024-05-20"],
            2025: ["2025-04-20", "2025-04-21", "2025-05-29", "2025-06-09"],
            2026: ["2026-04-05", "2026-04-06", "2026-05-14", "2026-05-25"],
            2027: ["2027-03-28", "2027-03-29", "2027-05-06", "2027-05-17"],
            2028: ["2028-04-16", "2028-04-17", "2028-05-25", "2028-06-05"],
            2029: ["2029-04-01", "2029-04-02", "2029-05-10", "2029-05-21"],
            2030: ["2030-04-21", "2030-04-22", "2030-05-30", "2030-06-10"],
        ]
        let calendar = BusinessCalendar(holidays: .fr)
        for (year, days) in years {
            #expect(try BusinessCalendar.easterSunday(year: year) == date(days[0]), "Easter \(year)")
            let holidays = try calendar.publicHolidays(year: year)
            #expect(holidays.count == 11, "\(year)")
            for day in days.dropFirst() {
                #expect(holidays.contains(try date(day)), "\(day)")
                #expect(try !calendar.isBusinessDay(date(day)))
            }
            #expect(try date(days[2]).weekday == .thursday)
            #expect(try date(days[1]).weekday == .monday && date(days[3]).weekday == .monday)
            for fixed in ["01-01", "05-01", "05-08", "07-14", "08-15", "11-01", "11-11", "12-25"] {
                #expect(holidays.contains(try date("\(year)-\(fixed)")), "\(year)-\(fixed)")
            }
        }
    }

    @Test("business days: 1 May and 8 May on Fridays, Ascension and Whit Monday in 2026; Christmas to New Year")
    func businessDaysAroundHolidays() throws {
        let calendar = BusinessCalendar(holidays: .fr)
        // Mon 27 Apr 2026 + 5: Tue 28, Wed 29, Thu 30, (Fri 1 May), Mon 4, Tue 5.
        #expect(try calendar.adding(businessDays: 5, to: date("2026-04-27")) == date("2026-05-05"))
        // Wed 6 May + 5: Thu 7, (Fri 8 May), Mon 11, Tue 12, Wed 13, (Thu 14 Ascension), Fri 15.
        #expect(try calendar.adding(businessDays: 5, to: date("2026-05-06")) == date("2026-05-15"))
        // Mon 18 May + 10: 19, 20, 21, 22, (Mon 25 Whit Monday), 26, 27, 28, 29, Mon 1 Jun, Tue 2 Jun.
        #expect(try calendar.adding(businessDays: 10, to: date("2026-05-18")) == date("2026-06-02"))
        // Thu 23 Dec 2027 + 5: Fri 24, (Sat 25, Sun 26), Mon 27, Tue 28, Wed 29, Thu 30.
        #expect(try calendar.adding(businessDays: 5, to: date("2027-12-23")) == date("2027-12-30"))
        // Fri 29 Dec 2028 + 1: (Mon 1 Jan 2029) Tue 2 Jan 2029.
        #expect(try calendar.adding(businessDays: 1, to: date("2028-12-29")) == date("2029-01-02"))
        // Alsace-Moselle: Thu 2 Apr 2026 + 1 skips Good Friday 3 Apr and Easter Monday 6 Apr: Tue 7 Apr.
        #expect(try BusinessCalendar(holidays: .frAlsaceMoselle).adding(businessDays: 1, to: date("2026-04-02")) == date("2026-04-07"))
        #expect(try BusinessCalendar(holidays: .fr).adding(businessDays: 1, to: date("2026-04-02")) == date("2026-04-03"))
        // Weekends only: Fri 1 May 2026 + 1 is Mon 4 May.
        #expect(try BusinessCalendar(holidays: .none).adding(businessDays: 1, to: date("2026-05-01")) == date("2026-05-04"))
    }

    @Test("the timeline of SPEC §7 under the default policy, every deadline counted by hand")
    func escalationTimeline() throws {
        let rule = DisputeEscalation(policy: .standard, calendar: BusinessCalendar(holidays: .fr))
        let opened = try date("2026-04-27")
        // Tier 1 (account_manager, 5 days): due Tue 5 May 2026.
        let first = try rule.firstDeadline(openedOn: opened)
        #expect(first == (try date("2026-05-05")))
        var state = DisputeEscalation.State(tier: 1, deadline: first, openedOn: opened, breached: false)
        // On its deadline nothing moves; the day after, tier 2 (finance_manager, 5 days from 6 May).
        #expect(try rule.step(state, on: date("2026-05-05")) == .none)
        #expect(try rule.step(state, on: date("2026-05-06")) == .escalate(tier: 2, deadline: date("2026-05-15")))
        state.tier = 2
        state.deadline = try date("2026-05-15")
        // Again at the same date: nothing (the new deadline is after it).
        #expect(try rule.step(state, on: date("2026-05-06")) == .none)
        #expect(try rule.step(state, on: date("2026-05-15")) == .none)
        // Mon 18 May: tier 3 (legal, 10 days from 18 May) = Tue 2 June.
        #expect(try rule.step(state, on: date("2026-05-18")) == .escalate(tier: 3, deadline: date("2026-06-02")))
        state.tier = 3
        state.deadline = try date("2026-06-02")
        #expect(try rule.step(state, on: date("2026-06-02")) == .none)
        // Past the last tier's deadline: breached, once.
        #expect(try rule.step(state, on: date("2026-06-03")) == .breach)
        state.breached = true
        #expect(try rule.step(state, on: date("2026-06-03")) == .none)
        #expect(try rule.step(state, on: date("2026-09-01")) == .none)
    }

    @Test("an escalation months late moves one tier only, counted from its own date; a dispute with no deadline counts from its opening")
    func lateAndMissingDeadlines() throws {
        let rule = DisputeEscalation(policy: .standard, calendar: BusinessCalendar(holidays: .fr))
        let state = DisputeEscalation.State(tier: 1, deadline: try date("2026-05-05"), openedOn: try date("2026-04-27"), breached: false)
        // Fri 11 Dec 2026 + 5: Mon 14 … Fri 18.
        #expect(try rule.step(state, on: date("2026-12-11")) == .escalate(tier: 2, deadline: date("2026-12-18")))
        let undated = DisputeEscalation.State(tier: 1, deadline: nil, openedOn: try date("2026-04-27"), breached: false)
        #expect(try rule.step(undated, on: date("2026-05-05")) == .none)
        #expect(try rule.step(undated, on: date("2026-05-06")) == .escalate(tier: 2, deadline: date("2026-05-15")))
        // A policy cut to one tier: a dispute at tier 3 counts as at its last tier.
        let short = DisputeEscalation(policy: EscalationPolicy(tiers: [.init(name: "am", slaDays: 2)]), calendar: BusinessCalendar(holidays: .none))
        let high = DisputeEscalation.State(tier: 3, deadline: try date("2026-05-05"), openedOn: try date("2026-04-27"), breached: false)
        #expect(try short.step(high, on: date("2026-05-06")) == .breach)
        #expect(short.tier(3).name == "am")
    }

    @Test("a custom policy: its tiers, SLAs and notify targets are validated with errors that name the tier")
    func customPolicy() throws {
        let policy = try EscalationPolicy(json: #"{"tiers": [{"name": "am", "sla_days": 3, "notify": "email:am@example.com"}, {"name": "cfo", "sla_days": 2, "notify": "webhook"}]}"#)
        #expect(policy.tiers.map(\.slaDays) == [3, 2])
        #expect(policy.tiers.map(\.notify) == ["email:am@example.com", "webhook"])
        let rule = DisputeEscalation(policy: policy, calendar: BusinessCalendar(holidays: .fr))
        // Fri 6 Nov 2026 + 3: Mon 9, Tue 10, (Wed 11 Armistice), Thu 12.
        #expect(try rule.firstDeadline(openedOn: date("2026-11-06")) == date("2026-11-12"))
        for (json, message) in [
            (#"{"tiers": []}"#, "invalid escalation_policy: expected \"tiers\": a non-empty array of {name, sla_days, notify}"),
            (#"{"tiers": [{"name": "am", "sla_days": 0}]}"#, "invalid escalation_policy: tier am: sla_days must be a whole number of business days from 1 to 365"),
            (#"{"tiers": [{"name": "am", "sla_days": 2, "notify": "sms:0600"}]}"#, "invalid escalation_policy: tier am: notify must be email:ADDRESS or webhook"),
            (#"{"tiers": [{"sla_days": 2}]}"#, "invalid escalation_policy: tier 1 has no name"),
            (#"{"tiers": [{"name": "am", "sla_days": 2}, {"name": "am", "sla_days": 3}]}"#, "invalid escalation_policy: tier am is named twice"),
        ] {
            #expect(throws: LedgerError.self, "\(json)") { try EscalationPolicy(json: json) }
            do { _ = try EscalationPolicy(json: json) } catch { #expect(error.message == message) }
        }
    }

    @Test("outcomes: a credit note defaults to the disputed amount (or the balance) and never exceeds the balance")
    func outcomes() throws {
        #expect(try DisputeOutcome.creditNote.creditCents(requested: nil, disputedCents: 30_000, balanceCents: 100_000) == 30_000)
        #expect(try DisputeOutcome.creditNote.creditCents(requested: nil, disputedCents: nil, balanceCents: 100_000) == 100_000)
        // A payment since the dispute opened leaves less than was disputed: the balance is credited.
        #expect(try DisputeOutcome.creditNote.creditCents(requested: nil, disputedCents: 30_000, balanceCents: 20_000) == 20_000)
        #expect(try DisputeOutcome.creditNote.creditCents(requested: 5_000, disputedCents: 30_000, balanceCents: 100_000) == 5_000)
        #expect(throws: LedgerError.self) { try DisputeOutcome.creditNote.creditCents(requested: 100_001, disputedCents: nil, balanceCents: 100_000) }
        #expect(throws: LedgerError.self) { try DisputeOutcome.creditNote.creditCents(requested: nil, disputedCents: nil, balanceCents: 0) }
        #expect(try DisputeOutcome.upheld.creditCents(requested: nil, disputedCents: 30_000, balanceCents: 100_000) == nil)
        #expect(throws: LedgerError.self) { try DisputeOutcome.withdrawn.creditCents(requested: 1, disputedCents: nil, balanceCents: 100_000) }
    }

    @Test("reason codes and their French names")
    func reasons() {
        #expect(DisputeReason(code: "pricing") == .pricing)
        #expect(DisputeReason(code: " Qualité ") == .quality)
        #expect(DisputeReason(code: "NON REÇU") == .notReceived)
        #expect(DisputeReason(code: "duplicate-billing") == .duplicateBilling)
        #expect(DisputeReason(code: "autre") == .other)
        #expect(DisputeReason(code: "late") == nil)
        #expect(DisputeReason(code: "") == nil)
        #expect(DisputeReason.unknownMessage("late") == "unknown reason \"late\": expected one of pricing, quality, quantity, not_received, duplicate_billing, other")
    }

    @Test("instants: a date, a local time, or a time with its offset; anything else is refused")
    func instants() throws {
        let day = try EscalationInstant(parsing: "2026-12-03")
        #expect(day.hasOffset == false)
        #expect(try day.date == date("2026-12-03"))
        #expect(try EscalationInstant(parsing: "2026-12-03T09:30").hasOffset == false)
        #expect(try EscalationInstant(parsing: "2026-12-03 09:30:15.250").hasOffset == false)
        #expect(try EscalationInstant(parsing: "2026-12-03T08:00:00Z").hasOffset)
        #expect(try EscalationInstant(parsing: "2026-12-03T08:00:00+01:00").hasOffset)
        #expect(try EscalationInstant(parsing: "2026-12-03T08:00-0530").hasOffset)
        for bad in ["", "tomorrow", "2026-13-01", "2026-02-30", "2026-12-03T25:00", "2026-12-03T09", "2026-12-03T09:00+99:00",
                    "2026-12-03X09:00", "3000-01-01", "2026-12-03T09:00:00; DROP TABLE x", "2026-12-03T09:00:00\u{202E}"] {
            #expect(throws: LedgerError.self, "\(bad)") { try EscalationInstant(parsing: bad) }
        }
    }
}
