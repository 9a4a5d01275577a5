import Testing

@testable import EncoursLedger

/// Figures with the given fields set (everything else zero / none).
private func figures(
    exposure: Int128 = 0, overdue: Int128 = 0, oldest: Int = 0, limit: Int64? = nil, dbt: Int? = nil, recent: Int? = nil,
    prior: Int? = nil, disputes: Int = 0, broken: Int = 0, issued: Int = 0, beyondLegal: Int = 0
) -> RiskFigures {
    var figures = RiskFigures()
    figures.exposureCents = exposure
    figures.overdueCents = overdue
    figures.oldestOverdueDays = oldest
    figures.creditLimitCents = limit
    figures.daysBeyondTermsTenths = dbt
    figures.recentDaysBeyondTermsTenths = recent
    figures.priorDaysBeyondTermsTenths = prior
    figures.openDisputes = disputes
    figures.brokenPromises = broken
    figures.invoicesIssued = issued
    figures.invoicesBeyondLegalTerms = beyondLegal
    return figures
}

private func contributions(_ assessment: RiskAssessment) -> [String: Int] {
    Dictionary(uniqueKeysWithValues: assessment.factors.map { ($0.name, $0.contribution) })
}

@Suite("Risk score (worked by hand)")
struct RiskScoreTests {
    @Test("a customer that always pays on time with nothing overdue gets 100, grade A, no recommendation")
    func onTimePayer() {
        let assessment = RiskModel().assess(figures(exposure: 1_000_000, limit: 5_000_000, dbt: 0, recent: 0, prior: 0, issued: 12))
        #expect(assessment.score == 100)
        #expect(assessment.grade == .a)
        #expect(assessment.recommendation == RiskRecommendation.none)
        #expect(assessment.factors.allSatisfy { $0.contribution == 0 })
        #expect(assessment.factors.map(\.name) == ["payment_delay", "overdue_share", "overdue_age", "credit_limit", "open_disputes", "broken_promises"])
    }

    @Test("every factor at once: 100 − 13 − 8 − 6 − 8 − 5 − 10 = 50, grade D, over the limit: stop_credit")
    func everyFactor() {
        // payment_delay: 22.5 days late lies between 15 (deficit 10) and 30 (deficit 30):
        //   deficit 10 + 20 × 7.5 ÷ 15 = 20; ⅔ × 20 = 13.33 → 13.
        // overdue_share: 25 × 3,000.00 ÷ 10,000.00 = 7.5 → 8 (half away from zero).
        // overdue_age: 15 × 45 ÷ 120 = 5.625 → 6.
        // credit_limit: 10,000.00 against 9,000.00: (25 × 10,000 − 20 × 9,000) ÷ 9,000 = 7.78 → 8.
        // one open dispute: 5; one broken promise: 10.
        let assessment = RiskModel().assess(
            figures(exposure: 1_000_000, overdue: 300_000, oldest: 45, limit: 900_000, dbt: 225, disputes: 1, broken: 1))
        #expect(contributions(assessment) == [
            "payment_delay": -13, "overdue_share": -8, "overdue_age": -6, "credit_limit": -8, "open_disputes": -5, "broken_promises": -10,
        ])
        #expect(assessment.score == 50)
        #expect(assessment.grade == .d)
        #expect(assessment.recommendation == .stopCredit)
    }

    @Test("the PAYDEX points: 0, 15, 30, 60, 90, 120 days late and beyond")
    func paydexPoints() {
        #expect(RiskModel.paymentDelayPoints(tenths: 0) == 0)
        #expect(RiskModel.paymentDelayPoints(tenths: 5) == 0)  // ⅔ × 10 × 0.5 ÷ 15 = 0.22
        #expect(RiskModel.paymentDelayPoints(tenths: 150) == 7)  // ⅔ × 10 = 6.67
        #expect(RiskModel.paymentDelayPoints(tenths: 300) == 20)  // ⅔ × 30
        #expect(RiskModel.paymentDelayPoints(tenths: 600) == 27)  // ⅔ × 40 = 26.67
        #expect(RiskModel.paymentDelayPoints(tenths: 900) == 33)  // ⅔ × 50 = 33.33
        #expect(RiskModel.paymentDelayPoints(tenths: 1200) == 40)
        #expect(RiskModel.paymentDelayPoints(tenths: 99_999) == 40)
        #expect(RiskModel.paymentDelayPoints(tenths: -50) == 0)
    }

    @Test("grade boundaries: A ≥ 85, B ≥ 70, C ≥ 55, D ≥ 40, E below")
    func gradeBoundaries() {
        let expected: [(Int, RiskGrade)] = [
            (100, .a), (85, .a), (84, .b), (70, .b), (69, .c), (55, .c), (54, .d), (40, .d), (39, .e), (0, .e),
        ]
        for (score, grade) in expected { #expect(RiskGrade(score: score) == grade, "score \(score)") }
        #expect(RiskGrade.a < RiskGrade.e)
    }

    @Test("credit-limit points: 0 up to 80 %, 10 from 120 %, a zero limit with exposure takes 10")
    func creditLimitPoints() {
        #expect(RiskModel.creditLimitPoints(figures(exposure: 800_000, limit: 1_000_000)) == 0)
        #expect(RiskModel.creditLimitPoints(figures(exposure: 1_000_000, limit: 1_000_000)) == 5)
        #expect(RiskModel.creditLimitPoints(figures(exposure: 1_200_000, limit: 1_000_000)) == 10)
        #expect(RiskModel.creditLimitPoints(figures(exposure: 9_000_000, limit: 1_000_000)) == 10)
        #expect(RiskModel.creditLimitPoints(figures(exposure: 1, limit: 0)) == 10)
        #expect(RiskModel.creditLimitPoints(figures(exposure: 0, limit: 0)) == 0)
        #expect(figures(exposure: 1_000_000, limit: 800_000).creditLimitUtilizationBasisPoints == 12_500)
    }

    @Test("huge amounts do not overflow: a 10^14-cent exposure entirely overdue takes the full 25")
    func hugeAmounts() {
        let huge = Int128(100_000_000_000_000) * 1_000_000
        let assessment = RiskModel().assess(figures(exposure: huge, overdue: huge, oldest: 400, limit: Int64.max, dbt: 12_000))
        #expect(contributions(assessment)["overdue_share"] == -25)
        #expect(contributions(assessment)["credit_limit"] == -10)
        #expect(assessment.score == 10)
    }
}

@Suite("Risk recommendation rules")
struct RiskRecommendationTests {
    let model = RiskModel(highExposureCents: 5_000_000)

    @Test("E and D over the limit stop credit; D and C over the limit require a deposit")
    func lowGrades() {
        #expect(model.recommend(figures(), grade: .e) == .stopCredit)
        #expect(model.recommend(figures(exposure: 200, limit: 100), grade: .d) == .stopCredit)
        #expect(model.recommend(figures(exposure: 50, limit: 100), grade: .d) == .requireDeposit)
        #expect(model.recommend(figures(exposure: 200, limit: 100), grade: .c) == .requireDeposit)
    }

    @Test("C with a high exposure: credit insurance; otherwise watch")
    func gradeC() {
        #expect(model.recommend(figures(exposure: 5_000_000), grade: .c) == .creditInsurance)
        #expect(model.recommend(figures(exposure: 4_999_999), grade: .c) == .watch)
    }

    @Test("A or B with a high exposure paying slowly, or on terms beyond 60 days: factoring")
    func factoring() {
        #expect(model.recommend(figures(exposure: 6_000_000, dbt: 150), grade: .b) == .factoring)
        #expect(model.recommend(figures(exposure: 6_000_000, dbt: 149), grade: .b) == RiskRecommendation.none)
        #expect(model.recommend(figures(exposure: 6_000_000, dbt: 0, issued: 4, beyondLegal: 1), grade: .a) == .factoring)
        #expect(model.recommend(figures(exposure: 100, dbt: 400), grade: .b) == RiskRecommendation.none)
    }

    @Test("A or B near the limit, worsening, with a broken promise or an open dispute: watch")
    func watch() {
        #expect(model.recommend(figures(exposure: 80, limit: 100), grade: .a) == .watch)
        #expect(model.recommend(figures(exposure: 79, limit: 100), grade: .a) == RiskRecommendation.none)
        #expect(model.recommend(figures(recent: 120, prior: 20), grade: .a) == .watch)
        #expect(model.recommend(figures(recent: 119, prior: 20), grade: .a) == RiskRecommendation.none)
        #expect(model.recommend(figures(recent: 120), grade: .a) == RiskRecommendation.none)  // no prior window: no trend
        #expect(model.recommend(figures(broken: 1), grade: .b) == .watch)
        #expect(model.recommend(figures(disputes: 1), grade: .b) == .watch)
    }
}

/// A deterministic generator (SplitMix64), so a failing case can be replayed.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Risk score properties")
struct RiskScorePropertyTests {
    fileprivate static func randomFigures(_ random: inout SplitMix) -> RiskFigures {
        let exposure = Int128(Int64.random(in: 0...20_000_000, using: &random))
        return figures(
            exposure: exposure, overdue: exposure == 0 ? 0 : Int128.random(in: 0...exposure, using: &random),
            oldest: Int.random(in: 0...200, using: &random),
            limit: Bool.random(using: &random) ? Int64.random(in: 0...20_000_000, using: &random) : nil,
            dbt: Bool.random(using: &random) ? Int.random(in: 0...1500, using: &random) : nil,
            disputes: Int.random(in: 0...3, using: &random), broken: Int.random(in: 0...3, using: &random))
    }

    @Test("paying later, a larger overdue, a broken promise or a new dispute never improves the score (5,000 cases)")
    func neverImproves() {
        var random = SplitMix(state: 20_261_203)
        let model = RiskModel()
        for _ in 0..<5_000 {
            let base = Self.randomFigures(&random)
            let score = model.assess(base).score
            var later = base
            later.daysBeyondTermsTenths = (base.daysBeyondTermsTenths ?? 0) + Int.random(in: 1...300, using: &random)
            #expect(model.assess(later).score <= score, "paying later improved \(base)")

            // A larger overdue: an invoice of the exposure falls due, or a new overdue invoice.
            var fallsDue = base
            fallsDue.overdueCents = min(base.exposureCents, base.overdueCents + Int128(Int.random(in: 1...1_000_000, using: &random)))
            fallsDue.oldestOverdueDays = max(base.oldestOverdueDays, 1)
            #expect(model.assess(fallsDue).score <= score, "a larger overdue improved \(base)")
            var newOverdue = base
            let amount = Int128(Int.random(in: 1...1_000_000, using: &random))
            newOverdue.overdueCents += amount
            newOverdue.exposureCents += amount
            newOverdue.oldestOverdueDays = max(base.oldestOverdueDays, 1)
            #expect(model.assess(newOverdue).score <= score, "a new overdue invoice improved \(base)")

            var broken = base
            broken.brokenPromises += 1
            #expect(model.assess(broken).score <= score, "a broken promise improved \(base)")
            var disputed = base
            disputed.openDisputes += 1
            #expect(model.assess(disputed).score <= score, "a new dispute improved \(base)")
        }
    }

    @Test("scores stay within 0–100 and match their grade (5,000 cases)")
    func bounded() {
        var random = SplitMix(state: 7)
        for _ in 0..<5_000 {
            let assessment = RiskModel().assess(Self.randomFigures(&random))
            #expect((0...100).contains(assessment.score))
            #expect(assessment.grade == RiskGrade(score: assessment.score))
            #expect(assessment.score == max(0, 100 + assessment.factors.reduce(0) { $0 + $1.contribution }))
        }
    }
}

@Suite("Risk transitions: alerts and the strict policy")
struct RiskTransitionTests {
    @Test("a first recalculation sets the baseline: no grade alert, but a limit already exceeded is news")
    func firstRecalc() {
        let quiet = RiskTransition.apply(previous: nil, grade: .d, overCreditLimit: false, strictPolicyExists: false, ownPolicyIsStrict: false)
        #expect(quiet.alerts.isEmpty)
        let over = RiskTransition.apply(previous: nil, grade: .b, overCreditLimit: true, strictPolicyExists: false, ownPolicyIsStrict: false)
        #expect(over.alerts == [.creditLimitExceeded])
    }

    @Test("one alert per change: C → D raises, D → D nothing, D → C nothing, C → D again raises")
    func oncePerChange() {
        func step(_ previous: RiskTransition.State?, _ grade: RiskGrade, over: Bool = false) -> RiskTransition.Outcome {
            RiskTransition.apply(previous: previous, grade: grade, overCreditLimit: over, strictPolicyExists: false, ownPolicyIsStrict: false)
        }
        let first = step(nil, .c)
        let worse = step(first.state, .d)
        #expect(worse.alerts == [.gradeWorsened(from: .c, to: .d)])
        let same = step(worse.state, .d)
        #expect(same.alerts.isEmpty)
        let better = step(same.state, .c)
        #expect(better.alerts.isEmpty)
        #expect(step(better.state, .d).alerts == [.gradeWorsened(from: .c, to: .d)])
        // The limit: exceeded raises once; still exceeded nothing; back under and over again raises.
        let over = step(first.state, .c, over: true)
        #expect(over.alerts == [.creditLimitExceeded])
        #expect(step(over.state, .c, over: true).alerts.isEmpty)
        let under = step(over.state, .c, over: false)
        #expect(step(under.state, .c, over: true).alerts == [.creditLimitExceeded])
    }

    @Test("a recalculation dated before the latest is history only: no alert, no switch, the state kept")
    func backdated() {
        let latest = RiskTransition.State(grade: .a, overCreditLimit: false, strictPolicy: true)
        let past = RiskTransition.apply(
            previous: latest, grade: .e, overCreditLimit: true, strictPolicyExists: true, ownPolicyIsStrict: false, backdated: true)
        #expect(past.alerts.isEmpty)
        #expect(past.policySwitch == nil)
        #expect(past.state == latest)
    }

    @Test("D or E moves to strict when the tenant has it; back only at B or better")
    func strictPolicy() {
        func step(_ previous: RiskTransition.State?, _ grade: RiskGrade, exists: Bool = true, own: Bool = false) -> RiskTransition.Outcome {
            RiskTransition.apply(previous: previous, grade: grade, overCreditLimit: false, strictPolicyExists: exists, ownPolicyIsStrict: own)
        }
        #expect(step(nil, .d, exists: false).policySwitch == nil)
        #expect(step(nil, .e, own: true).policySwitch == nil)
        let moved = step(nil, .e)
        #expect(moved.policySwitch == .toStrict)
        #expect(moved.state.strictPolicy)
        let stillC = step(moved.state, .c)
        #expect(stillC.policySwitch == nil)
        #expect(stillC.state.strictPolicy)
        let back = step(stillC.state, .b)
        #expect(back.policySwitch == .fromStrict)
        #expect(!back.state.strictPolicy)
        #expect(step(back.state, .b).policySwitch == nil)
    }
}

@Suite("Receivables metrics (worked by hand)")
struct ReceivablesMetricsTests {
    /// Newest first: 1,000.00 sold over 30 days, 1,200.00 over 31, 900.00 over 30.
    let months = [
        ReceivablesMetrics.Month(salesCents: 100_000, days: 30), ReceivablesMetrics.Month(salesCents: 120_000, days: 31),
        ReceivablesMetrics.Month(salesCents: 90_000, days: 30),
    ]

    @Test("countback DSO: 1,500.00 outstanding = 30 days + 500 ÷ 1,200 × 31 = 42.9 days")
    func countback() {
        #expect(ReceivablesMetrics.countbackDSOTenths(closingReceivablesCents: 150_000, months: months) == 429)
        // Absorbed by the first month: 500 ÷ 1,000 × 30 = 15.0.
        #expect(ReceivablesMetrics.countbackDSOTenths(closingReceivablesCents: 50_000, months: months) == 150)
        // Exactly the first month's sales: 30.0 (not 30 + 0 × 31).
        #expect(ReceivablesMetrics.countbackDSOTenths(closingReceivablesCents: 100_000, months: months) == 300)
        // More than three months of sales: 30 + 31 + 1,800 ÷ 900 × 30 = 121.0.
        #expect(ReceivablesMetrics.countbackDSOTenths(closingReceivablesCents: 400_000, months: months) == 1210)
        #expect(ReceivablesMetrics.countbackDSOTenths(closingReceivablesCents: 0, months: months) == 0)
        // Months without sales add their days: 30 + 31 + 30 = 91.0.
        let quiet = [
            ReceivablesMetrics.Month(salesCents: 100, days: 30), ReceivablesMetrics.Month(salesCents: 0, days: 31),
            ReceivablesMetrics.Month(salesCents: 0, days: 30),
        ]
        #expect(ReceivablesMetrics.countbackDSOTenths(closingReceivablesCents: 200, months: quiet) == 910)
        #expect(ReceivablesMetrics.countbackDSOTenths(closingReceivablesCents: 1, months: []) == nil)
    }

    @Test("best possible DSO 600 ÷ 3,100 × 91 = 17.6, average days delinquent 42.9 − 17.6 = 25.3")
    func bestPossibleAndDelinquent() {
        let best = ReceivablesMetrics.bestPossibleDSOTenths(currentReceivablesCents: 60_000, salesCents: 310_000, days: 91)
        #expect(best == 176)
        #expect(ReceivablesMetrics.averageDaysDelinquentTenths(dsoTenths: 429, bestPossibleTenths: best) == 253)
        #expect(ReceivablesMetrics.bestPossibleDSOTenths(currentReceivablesCents: 60_000, salesCents: 0, days: 91) == nil)
        #expect(ReceivablesMetrics.averageDaysDelinquentTenths(dsoTenths: nil, bestPossibleTenths: 3) == nil)
    }

    @Test("CEI (2,000 + 1,000 − 1,500) ÷ (2,000 + 1,000 − 600) = 62.5 %")
    func collectionEffectiveness() {
        #expect(ReceivablesMetrics.collectionEffectivenessTenths(
            openingReceivablesCents: 200_000, salesCents: 100_000, closingReceivablesCents: 150_000, closingCurrentCents: 60_000) == 625)
        // Everything collected: 100 %.
        #expect(ReceivablesMetrics.collectionEffectivenessTenths(
            openingReceivablesCents: 200_000, salesCents: 100_000, closingReceivablesCents: 0, closingCurrentCents: 0) == 1000)
        #expect(ReceivablesMetrics.collectionEffectivenessTenths(
            openingReceivablesCents: 0, salesCents: 0, closingReceivablesCents: 0, closingCurrentCents: 0) == nil)
        #expect(ReceivablesMetrics.decimalString(tenths: -125) == "-12.5")
        #expect(ReceivablesMetrics.decimalString(tenths: 7) == "0.7")
    }
}
