import Testing

@testable import EncoursLedger

/// The ECB history the migration ships (REFERENCE: ECB decisions), enough for the examples.
private let shippedRates = RateHistory([
    ("2014-06-11", 15), ("2014-09-10", 5), ("2016-03-16", 0), ("2022-07-27", 50), ("2022-09-14", 125),
    ("2022-11-02", 200), ("2022-12-21", 250), ("2023-02-08", 300), ("2023-03-22", 350), ("2023-05-10", 375),
    ("2023-06-21", 400), ("2023-08-02", 425), ("2023-09-20", 450), ("2024-06-12", 425), ("2024-09-18", 365),
    ("2024-10-23", 340), ("2024-12-18", 315), ("2025-02-05", 290), ("2025-03-12", 265), ("2025-04-23", 240),
    ("2025-06-11", 215),
].map { RateHistory.Change(effectiveOn: try! CalendarDate(parsing: $0.0), rateHundredths: $0.1) })


@Suite("Late-payment penalties (worked by hand)")
struct LatePenaltyTests {
    @Test("the semester rule: H1 takes the rate in force on 1 January, H2 the one on 1 July")
    func semesterRule() throws {
        // 2025-01-01: 3.15 (since 2024-12-18), although it fell to 2.90 on 2025-02-05.
        #expect(try shippedRates.referenceRate(for: day("2025-06-30")) == 315)
        // 2025-07-01: 2.15 (since 2025-06-11).
        #expect(try shippedRates.referenceRate(for: day("2025-07-01")) == 215)
        #expect(try shippedRates.referenceRate(for: day("2025-12-31")) == 215)
        // 2024-01-01: 4.50 (since 2023-09-20); 2024-07-01: 4.25 (since 2024-06-12).
        #expect(try shippedRates.referenceRate(for: day("2024-02-29")) == 450)
        #expect(try shippedRates.referenceRate(for: day("2024-07-01")) == 425)
        #expect(shippedRates.rate(inForceOn: day("2025-06-11")) == 215)
        #expect(shippedRates.rate(inForceOn: day("2025-06-10")) == 240)
    }

    @Test("30 days on 1,000.00 at 3.15 + 10 points = 10.81")
    func plainMonth() throws {
        // 100000 × 1315 × 30 / 3,650,000 = 1080.82 cents → 10.81
        let interest = try LatePenalty.interest(
            amountCents: 100_000, dueDate: day("2025-03-31"), asOf: day("2025-04-30"), reductions: [],
            rates: shippedRates, marginHundredths: 1000)
        #expect(interest.cents == 1081)
        #expect(interest.periods.count == 1)
        #expect(interest.periods[0].days == 30)
        #expect(interest.periods[0].annualRateHundredths == 1315)
    }

    @Test("overdue across 1 July: 15 days at 13.15 %, then 15 days at 12.15 % = 10.40")
    func acrossSemesterChange() throws {
        // 100000 × 1315 × 15 + 100000 × 1215 × 15 = 3,795,000,000; ÷ 3,650,000 = 1039.73 cents → 10.40
        let interest = try LatePenalty.interest(
            amountCents: 100_000, dueDate: day("2025-06-15"), asOf: day("2025-07-15"), reductions: [],
            rates: shippedRates, marginHundredths: 1000)
        #expect(interest.cents == 1040)
        #expect(interest.periods.map(\.annualRateHundredths) == [1315, 1215])
        #expect(interest.periods.map(\.days) == [15, 15])
        #expect(interest.periods[1].from == day("2025-07-01"))
    }

    @Test("a partial payment in the middle: 19 days on 2,000.00, then 11 days on 800.00 = 16.86")
    func partialPayment() throws {
        // 200000 × 1315 × 19 + 80000 × 1315 × 11 = 6,154,200,000; ÷ 3,650,000 = 1686.08 cents → 16.86
        let interest = try LatePenalty.interest(
            amountCents: 200_000, dueDate: day("2025-01-31"), asOf: day("2025-03-02"),
            reductions: [LatePenalty.Reduction(date: day("2025-02-20"), cents: 120_000)],
            rates: shippedRates, marginHundredths: 1000)
        #expect(interest.cents == 1686)
        #expect(interest.periods.map(\.balanceCents) == [200_000, 80_000])
        #expect(interest.periods.map(\.days) == [19, 11])
    }

    @Test("a payment before the due date counts from the first day; a full payment stops the interest")
    func earlyAndFullPayments() throws {
        // 500.00 outstanding (1,000.00 less 500.00 paid early) for 10 days, then paid: 
        // 50000 × 1315 × 10 / 3,650,000 = 180.14 cents → 1.80
        let interest = try LatePenalty.interest(
            amountCents: 100_000, dueDate: day("2025-03-31"), asOf: day("2025-04-30"),
            reductions: [
                LatePenalty.Reduction(date: day("2025-03-01"), cents: 50_000),
                LatePenalty.Reduction(date: day("2025-04-11"), cents: 50_000),
            ],
            rates: shippedRates, marginHundredths: 1000)
        #expect(interest.cents == 180)
        #expect(interest.periods.count == 1)
        #expect(interest.periods[0].through == day("2025-04-10"))
    }

    @Test("leap day counts, still over 365: 2 days on 365.00 at 14.50 % = 0.29")
    func leapYear() throws {
        // 36500 × 1450 × 2 / 3,650,000 = 29 cents exactly
        let interest = try LatePenalty.interest(
            amountCents: 36_500, dueDate: day("2024-02-28"), asOf: day("2024-03-01"), reductions: [],
            rates: shippedRates, marginHundredths: 1000)
        #expect(interest.cents == 29)
    }

    @Test("half a cent rounds away from zero; a margin of 8 points is the directive's minimum")
    func roundingAndMargin() throws {
        // Reference 0.00 in H1 2017; 100 cents × 1825 × 10 days = 1,825,000 → 0.5 cent → 1
        let half = try LatePenalty.interest(
            amountCents: 100, dueDate: day("2017-01-10"), asOf: day("2017-01-20"), reductions: [],
            rates: shippedRates, marginHundredths: 1825)
        #expect(half.cents == 1)
        // 8 points: 100000 × 1115 × 30 / 3,650,000 = 916.44 → 9.16
        let directive = try LatePenalty.interest(
            amountCents: 100_000, dueDate: day("2025-03-31"), asOf: day("2025-04-30"), reductions: [],
            rates: shippedRates, marginHundredths: 800)
        #expect(directive.cents == 916)
        #expect(try LatePenalty.marginHundredths(parsing: "8.5") == 850)
        #expect(throws: LedgerError.self) { try LatePenalty.marginHundredths(parsing: "8.555") }
        #expect(throws: LedgerError.self) { try LatePenalty.marginHundredths(parsing: "-1") }
    }

    @Test("nothing before the day after the due date; a rate the history lacks is a clear error")
    func boundaries() throws {
        let onDueDate = try LatePenalty.interest(
            amountCents: 100_000, dueDate: day("2025-03-31"), asOf: day("2025-03-31"), reductions: [],
            rates: shippedRates, marginHundredths: 1000)
        #expect(onDueDate.cents == 0)
        #expect(onDueDate.periods.isEmpty)
        let oneDay = try LatePenalty.interest(
            amountCents: 100_000, dueDate: day("2025-03-31"), asOf: day("2025-04-01"), reductions: [],
            rates: shippedRates, marginHundredths: 1000)
        #expect(oneDay.cents == 36)  // 100000 × 1315 / 3,650,000 = 36.03
        do {
            _ = try LatePenalty.interest(
                amountCents: 100_000, dueDate: day("2013-12-01"), asOf: day("2014-01-10"), reductions: [],
                rates: shippedRates, marginHundredths: 1000)
            Issue.record("expected an error for a rate before the history")
        } catch {
            #expect(error.code == .unknownReference)
            #expect(error.message.contains("2013-07-01"))
        }
    }

    @Test("a billion-euro invoice overdue five years stays exact")
    func hugeAmounts() throws {
        let interest = try LatePenalty.interest(
            amountCents: Money.maximumRowCents, dueDate: day("2020-12-31"), asOf: day("2025-12-31"), reductions: [],
            rates: shippedRates, marginHundredths: 1000)
        #expect(interest.cents > Money.maximumRowCents / 2)
        #expect(interest.periods.count == 7)  // 2021–2022 at 0 + 10 merge; then one per half-year
    }

    @Test("rates are read in percent with at most two decimals")
    func rateParsing() throws {
        #expect(try RateHistory.hundredths(parsingPercent: "2.15") == 215)
        #expect(try RateHistory.hundredths(parsingPercent: "4") == 400)
        #expect(try RateHistory.hundredths(parsingPercent: "-0.5") == -50)
        #expect(throws: LedgerError.self) { try RateHistory.hundredths(parsingPercent: "2.155") }
        #expect(throws: LedgerError.self) { try RateHistory.hundredths(parsingPercent: "abc") }
        #expect(throws: LedgerError.self) { try RateHistory.hundredths(parsingPercent: "101") }
        #expect(RateHistory.percentString(hundredths: 215) == "2.15")
    }
}

@Suite("Dunning policies")
struct DunningPolicyTests {
    let builtIn: (String) -> Bool = { ["friendly", "firm", "formal_notice", "collection_handoff"].contains($0) }

    @Test("the SPEC's standard policy parses, and its JSON reads back the same")
    func standard() throws {
        let text = """
            { "name": "standard", "min_amount": "15.00", "min_days_between_reminders": 7,
              "levels": [
                {"level": 1, "days_after_due": 1,  "channel": "email", "template": "friendly"},
                {"level": 2, "days_after_due": 15, "channel": "email", "template": "firm"},
                {"level": 3, "days_after_due": 30, "channel": "email", "template": "formal_notice", "charge_penalties": true},
                {"level": 4, "days_after_due": 45, "channel": "webhook", "template": "collection_handoff"} ] }
            """
        let policy = try DunningPolicy(json: text, isKnownTemplate: builtIn)
        #expect(policy == .standard)
        #expect(try DunningPolicy(json: policy.json, isKnownTemplate: builtIn) == policy)
    }

    @Test("a courtesy level before the due date is allowed")
    func negativeDays() throws {
        let policy = try DunningPolicy(
            json: #"{"name": "soft", "levels": [{"level": 1, "days_after_due": -3, "channel": "letter", "template": "friendly"}]}"#,
            isKnownTemplate: builtIn)
        #expect(policy.levels[0].daysAfterDue == -3)
        #expect(policy.minAmountCents == 0)
        #expect(policy.minDaysBetweenReminders == 0)
    }

    @Test(
        "bad policies are refused with a message naming the field",
        arguments: [
            (#"[1]"#, "not a JSON object"),
            (#"{"name": "Standard", "levels": []}"#, "name must be lowercase"),
            (#"{"name": "s", "levels": []}"#, "non-empty array"),
            (#"{"name": "s", "min_amount": 15, "levels": [{"level": 1, "days_after_due": 1, "channel": "email", "template": "friendly"}]}"#, "not a JSON number"),
            (#"{"name": "s", "min_amount": "-1.00", "levels": [{"level": 1, "days_after_due": 1, "channel": "email", "template": "friendly"}]}"#, "min_amount must be from 0.00"),
            (#"{"name": "s", "min_amount": "1.005", "levels": [{"level": 1, "days_after_due": 1, "channel": "email", "template": "friendly"}]}"#, "min_amount"),
            (#"{"name": "s", "min_days_between_reminders": -1, "levels": [{"level": 1, "days_after_due": 1, "channel": "email", "template": "friendly"}]}"#, "min_days_between_reminders"),
            (#"{"name": "s", "levels": [{"level": 2, "days_after_due": 1, "channel": "email", "template": "friendly"}]}"#, "level 1: \"level\" must be 1"),
            (#"{"name": "s", "levels": [{"level": 1, "days_after_due": 10, "channel": "email", "template": "friendly"}, {"level": 2, "days_after_due": 10, "channel": "email", "template": "firm"}]}"#, "level 2: days_after_due 10 must be greater"),
            (#"{"name": "s", "levels": [{"level": 1, "days_after_due": 1, "channel": "sms", "template": "friendly"}]}"#, "channel must be email, webhook or letter"),
            (#"{"name": "s", "levels": [{"level": 1, "days_after_due": 1, "channel": "email", "template": "shouty"}]}"#, "unknown template"),
            (#"{"name": "s", "levels": [{"level": 1, "days_after_due": 1.5, "channel": "email", "template": "friendly"}]}"#, "days_after_due must be a whole number"),
            (#"{"name": "s", "levels": [{"level": 1, "days_after_due": 1, "channel": "email", "template": "friendly", "charge_penalties": "yes"}]}"#, "charge_penalties must be true or false"),
            (#"{"name": "s", "levels": [{"level": 1, "days_after_du": 1, "channel": "email", "template": "friendly"}]}"#, "unknown field \"days_after_du\""),
            (#"{"name": "s", "minimum": "1", "levels": []}"#, "unknown field \"minimum\""),
        ])
    func refused(text: String, expected: String) {
        do {
            _ = try DunningPolicy(json: text, isKnownTemplate: builtIn)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.description.hasPrefix("invalid dunning policy"))
        }
    }
}
