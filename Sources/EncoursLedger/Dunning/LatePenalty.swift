/// The history of the ECB main refinancing operations rate, and the reference rate French law
/// takes from it for late-payment interest.
///
/// Rates are in hundredths of a percent (2.15 % is 215), so they stay whole numbers.
public struct RateHistory: Sendable, Hashable {
    /// A rate and the day it took effect.
    public struct Change: Sendable, Hashable {
        public var effectiveOn: CalendarDate
        public var rateHundredths: Int
        public init(effectiveOn: CalendarDate, rateHundredths: Int) {
            self.effectiveOn = effectiveOn
            self.rateHundredths = rateHundredths
        }
    }

    /// The changes, oldest first.
    public let changes: [Change]

    public init(_ changes: [Change]) {
        self.changes = changes.sorted { $0.effectiveOn < $1.effectiveOn }
    }

    /// The rate in force on `date`: the last change on or before it; nil before the first.
    public func rate(inForceOn date: CalendarDate) -> Int? {
        // Binary search for the last change whose date is ≤ `date`.
        var low = 0
        var high = changes.count
        while low < high {
            let middle = (low + high) / 2
            if changes[middle].effectiveOn <= date { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : changes[low - 1].rateHundredths
    }

    /// The first day of the half-year that `day` falls in: 1 January or 1 July of its year.
    public static func semesterStart(of day: CalendarDate) -> CalendarDate {
        // Years 1–9999 and months 1 or 7 always make a valid date.
        (try? CalendarDate(year: day.year, month: day.month <= 6 ? 1 : 7, day: 1)) ?? day
    }

    /// The reference rate for a day of lateness (Code de commerce L441-10 II): the rate in force
    /// on 1 January for days in January–June, on 1 July for days in July–December.
    ///
    /// `unknownReference` when the history does not reach back to that date.
    public func referenceRate(for day: CalendarDate) throws(LedgerError) -> Int {
        let start = Self.semesterStart(of: day)
        guard let rate = rate(inForceOn: start) else {
            throw LedgerError(
                .unknownReference, "no ECB main refinancing rate in force on \(start.isoString): add it with `encours rates set DATE RATE`")
        }
        return rate
    }

    /// Reads a rate written in percent (`2.15`, `-0.5`, `4`) into hundredths; at most two decimals.
    public static func hundredths(parsingPercent text: String) throws(LedgerError) -> Int {
        let value: Int64
        do { value = try Money.parseExactCents(text) } catch {
            throw LedgerError(.invalidValue, "expected a rate in percent such as 2.15", value: text)
        }
        guard (-10_000...10_000).contains(value) else {
            throw LedgerError(.valueOutOfRange, "a rate must be from -100.00 to 100.00 percent", value: text)
        }
        return Int(value)
    }

    /// Hundredths of a percent written as a percentage: `215` → `2.15`.
    public static func percentString(hundredths: Int) -> String {
        Money.decimalString(cents: Int64(hundredths))
    }
}

/// French late-payment penalties (Code de commerce L441-10 II and D441-5), to the cent.
public enum LatePenalty {
    /// Something that reduces an invoice's balance from its date: a payment or a credit note.
    public struct Reduction: Sendable, Hashable {
        public var date: CalendarDate
        public var cents: Int64
        public init(date: CalendarDate, cents: Int64) {
            self.date = date
            self.cents = cents
        }
    }

    /// One stretch of lateness at a constant balance and rate.
    public struct Period: Sendable, Hashable {
        /// The first and last day of the stretch, both included.
        public var from: CalendarDate
        public var through: CalendarDate
        public var balanceCents: Int64
        /// The annual rate: the reference rate plus the margin, in hundredths of a percent.
        public var annualRateHundredths: Int
        public var days: Int { through.days(since: from) + 1 }
    }

    /// The interest on one invoice and how it was reached.
    public struct Interest: Sendable, Hashable {
        /// Σ balance × annual rate ÷ 365 over the days, rounded once, half away from zero.
        public var cents: Int64
        /// The stretches summed, in date order (days with a zero balance are left out).
        public var periods: [Period]
    }

    /// The margin over the reference rate when the tenant sets none (L441-10: 10 points).
    public static let defaultMarginHundredths = 1000

    /// Reads `penalty_margin_points` (`10`, `8.5`) into hundredths of a percent.
    public static func marginHundredths(parsing text: String) throws(LedgerError) -> Int {
        let value: Int64
        do { value = try Money.parseExactCents(text) } catch {
            throw LedgerError(.invalidValue, "expected percentage points such as 10 or 8.5", value: text)
        }
        guard (0...10_000).contains(value) else {
            throw LedgerError(.valueOutOfRange, "penalty margin must be from 0 to 100 points", value: text)
        }
        return Int(value)
    }

    /// Simple interest accrued day by day on an invoice, from the day after `dueDate` to `asOf`
    /// included, on the balance outstanding each day.
    ///
    /// The balance on a day is `amountCents` less every reduction dated on or before that day (a
    /// payment counts from the day it is received); it never goes below zero. The annual rate for a
    /// day is its half-year's ECB reference rate (see ``RateHistory/referenceRate(for:)``) plus
    /// `marginHundredths`, never below zero; a day's interest is balance × rate ÷ 365 (also in leap
    /// years, as the product contract words it). The exact sum over all days is rounded once, to the cent.
    /// Errors: `unknownReference` when a day's reference rate is not in `rates`.
    public static func interest(
        amountCents: Int64, dueDate: CalendarDate, asOf: CalendarDate, reductions: [Reduction],
        rates: RateHistory, marginHundredths: Int
    ) throws(LedgerError) -> Interest {
        let firstDay = try dueDate.adding(days: 1)
        guard firstDay <= asOf else { return Interest(cents: 0, periods: []) }
        // Where the balance or the rate may change: each reduction's date and each half-year start.
        var breaks: Set<Int> = [firstDay.daysSinceEpoch]
        for reduction in reductions where reduction.date > firstDay && reduction.date <= asOf {
            breaks.insert(reduction.date.daysSinceEpoch)
        }
        var semester = RateHistory.semesterStart(of: firstDay)
        while true {
            let next = try CalendarDate(year: semester.month == 1 ? semester.year : semester.year + 1, month: semester.month == 1 ? 7 : 1, day: 1)
            guard next <= asOf else { break }
            breaks.insert(next.daysSinceEpoch)
            semester = next
        }
        let starts = breaks.sorted()
        let ordered = reductions.sorted { $0.date < $1.date }
        var reductionIndex = 0
        var reduced: Int64 = 0
        var numerator: Int128 = 0
        var periods: [Period] = []
        for (index, start) in starts.enumerated() {
            let from = CalendarDate(validatedDay: start)
            let through = CalendarDate(validatedDay: index + 1 < starts.count ? starts[index + 1] - 1 : asOf.daysSinceEpoch)
            while reductionIndex < ordered.count, ordered[reductionIndex].date <= from {
                reduced += ordered[reductionIndex].cents
                reductionIndex += 1
            }
            let balance = max(0, amountCents - reduced)
            guard balance > 0 else { continue }
            let rate = max(0, try rates.referenceRate(for: from) + marginHundredths)
            let period = Period(from: from, through: through, balanceCents: balance, annualRateHundredths: rate)
            // cents × (hundredths of a percent) × days ÷ (100 × 100 × 365)
            numerator += Int128(balance) * Int128(rate) * Int128(period.days)
            if let last = periods.last, last.balanceCents == balance, last.annualRateHundredths == rate {
                periods[periods.count - 1].through = through
            } else {
                periods.append(period)
            }
        }
        let cents = try Money.centsRoundedHalfAwayFromZero(numerator, over: 10_000 * 365)
        return Interest(cents: cents, periods: periods)
    }
}
