/// A tenant's receivables metrics: DSO by the countback method, best possible DSO, average days
/// delinquent and the collection effectiveness index (CEI).
///
/// Pure arithmetic on exact integers: amounts are cents, and each result is rounded once, half
/// away from zero, to tenths (of a day, or of a percent for the CEI). A metric whose denominator
/// is zero is nil (undefined), never a made-up number.
public enum ReceivablesMetrics {
    /// One month of the countback, newest first: its credit sales and its length in days.
    public struct Month: Sendable, Hashable {
        /// Invoices issued in the month (cents, the tenant's currency).
        public var salesCents: Int128
        /// Days in the month (28–31 for calendar months; the rolling months ending at a date
        /// have the length of the calendar month they end in or span).
        public var days: Int

        public init(salesCents: Int128, days: Int) {
            self.salesCents = salesCents
            self.days = days
        }
    }

    /// DSO by the countback method, in tenths of a day; nil without any month.
    ///
    /// Start from the closing receivables and walk back month by month, newest first: while the
    /// remainder exceeds the month's credit sales, subtract them and add the month's days; the
    /// month that absorbs the remainder adds remainder ÷ sales × its days, and the walk stops.
    /// The oldest month given adds remainder ÷ sales × days even when the remainder exceeds its
    /// sales (the DSO is then longer than the months walked); an oldest month without sales adds
    /// its days. Zero receivables give 0.
    public static func countbackDSOTenths(closingReceivablesCents: Int128, months: [Month]) -> Int? {
        guard !months.isEmpty else { return nil }
        var remainder = max(closingReceivablesCents, 0)
        // Whole days so far, and the fraction of the last month as numerator ÷ denominator days.
        var wholeDays = 0
        for (index, month) in months.enumerated() {
            guard remainder > 0 else { break }
            let isOldest = index == months.count - 1
            if remainder > month.salesCents && !isOldest {
                remainder -= month.salesCents
                wholeDays += month.days
                continue
            }
            guard month.salesCents > 0 else {
                wholeDays += month.days
                break
            }
            // tenths = 10 × (wholeDays + remainder × days ÷ sales)
            let numerator = Int128(wholeDays) * month.salesCents * 10 + remainder * Int128(month.days) * 10
            return RiskModel.rounded(numerator, over: month.salesCents)
        }
        return wholeDays * 10
    }

    /// Best possible DSO in tenths of a day: current (not yet due) receivables ÷ the period's
    /// credit sales × the period's days; nil when nothing was sold in the period.
    public static func bestPossibleDSOTenths(currentReceivablesCents: Int128, salesCents: Int128, days: Int) -> Int? {
        guard salesCents > 0 else { return nil }
        return RiskModel.rounded(max(currentReceivablesCents, 0) * Int128(days) * 10, over: salesCents)
    }

    /// Average days delinquent in tenths: DSO − best possible DSO (nil unless both are known).
    public static func averageDaysDelinquentTenths(dsoTenths: Int?, bestPossibleTenths: Int?) -> Int? {
        guard let dsoTenths, let bestPossibleTenths else { return nil }
        return dsoTenths - bestPossibleTenths
    }

    /// The collection effectiveness index over a period, in tenths of a percent:
    /// (opening AR + credit sales − closing total AR) ÷ (opening AR + credit sales − closing
    /// current AR) × 100. Nil when the denominator is zero or negative (nothing was collectable).
    public static func collectionEffectivenessTenths(
        openingReceivablesCents: Int128, salesCents: Int128, closingReceivablesCents: Int128, closingCurrentCents: Int128
    ) -> Int? {
        let collectable = openingReceivablesCents + salesCents
        let denominator = collectable - closingCurrentCents
        guard denominator > 0 else { return nil }
        return RiskModel.rounded((collectable - closingReceivablesCents) * 1000, over: denominator)
    }

    /// `tenths` as a decimal with one digit (`-12.5`), for output.
    public static func decimalString(tenths: Int) -> String {
        let sign = tenths < 0 ? "-" : ""
        return "\(sign)\(tenths.magnitude / 10).\(tenths.magnitude % 10)"
    }
}
