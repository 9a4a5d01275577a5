import Foundation
import Testing
@testable import EncoursLedger

@Suite("Money: parsing decimal strings as ERPs export them")
struct MoneyParsingTests {
    @Test("a point or a comma as the decimal separator", arguments: [
        ("1234.56", Int64(123_456)), ("1234,56", 123_456), ("0,5", 50), ("12", 1200), ("0.01", 1), ("007,10", 710),
    ])
    func decimalSeparators(text: String, cents: Int64) throws {
        #expect(try Money.parseCents(text) == cents)
    }

    @Test("spaces group thousands: ASCII, no-break (U+00A0) and narrow no-break (U+202F)", arguments: [
        ("1 234,56", Int64(123_456)),
        ("1\u{00A0}234,56", 123_456),
        ("1\u{202F}234\u{202F}567,89", 123_456_789),
        ("12 345 678", 1_234_567_800),
        ("-1\u{00A0}000,00", -100_000),
    ])
    func spaceGrouping(text: String, cents: Int64) throws {
        #expect(try Money.parseCents(text) == cents)
    }

    @Test("with both . and , the last one is the decimal separator", arguments: [
        ("1.234,56", Int64(123_456)), ("1,234.56", 123_456), ("1,234,567.89", 123_456_789), ("1.234.567,89", 123_456_789),
    ])
    func bothSeparators(text: String, cents: Int64) throws {
        #expect(try Money.parseCents(text) == cents)
    }

    @Test("one separator repeated groups thousands of a whole number")
    func repeatedSeparatorIsGrouping() throws {
        #expect(try Money.parseCents("1.234.567") == 123_456_700)
        #expect(try Money.parseCents("1,234,567") == 123_456_700)
    }

    @Test("a lone separator is always decimal, even before three digits (documented rule)")
    func loneSeparatorBeforeThreeDigitsIsDecimal() throws {
        #expect(try Money.parseCents("1,234") == 123)  // 1.234 → 1.23, not a thousand
        #expect(try Money.parseCents("1.235") == 124)  // 1.235 → 1.24
    }

    @Test("past two decimals, rounding is half away from zero", arguments: [
        ("0,005", Int64(1)), ("-0,005", -1), ("2.675", 268), ("-2,675", -268), ("2.674999", 267),
        ("0,0049", 0), ("-0,0049", 0), ("1,999", 200), ("0.125", 13), ("99,995", 10_000),
    ])
    func roundingHalfAwayFromZero(text: String, cents: Int64) throws {
        #expect(try Money.parseCents(text) == cents)
    }

    @Test("signs, surrounding whitespace and a bare fraction")
    func signsAndWhitespace() throws {
        #expect(try Money.parseCents("+12,30") == 1230)
        #expect(try Money.parseCents("-12,30") == -1230)
        #expect(try Money.parseCents("  12,30\t") == 1230)
        #expect(try Money.parseCents("\u{00A0}12,30\u{202F}") == 1230)
        #expect(try Money.parseCents(",5") == 50)
        #expect(try Money.parseCents("-0,00") == 0)
    }

    @Test("anything else is not a number", arguments: [
        "", "   ", "abc", "12,3,4", "1 2345", "12 34", "1234 567", "12,", "1.234,56.78", "1 234.567,89",
        "--5", "5-", "12 €", "€12", "1e3", "0x10", "1,23,456.00", ",", "-", "+", "1_000", "(12,30)", "12.30.",
    ])
    func rejections(text: String) {
        let error = #expect(throws: LedgerError.self) { try Money.parseCents(text) }
        #expect(error?.code == .invalidAmount)
        #expect(error?.message == "not a number")
    }

    @Test("the error repeats the value: not a number (\"12,3,4\")")
    func rejectionDescription() {
        let error = #expect(throws: LedgerError.self) { try Money.parseCents(" 12,3,4 ") }
        #expect(error?.description == "not a number (\"12,3,4\")")
    }

    @Test("the 64-bit limit is exact, and one cent more is an error, not a trap")
    func overflow() throws {
        #expect(try Money.parseCents("92233720368547758.07") == Int64.max)
        #expect(try Money.parseCents("-92 233 720 368 547 758,07") == -Int64.max)
        for text in ["92233720368547758.08", "92233720368547758.075", "99999999999999999999", "-100000000000000000000,00"] {
            let error = #expect(throws: LedgerError.self) { try Money.parseCents(text) }
            #expect(error?.code == .amountOutOfRange, "\(text)")
        }
    }

    @Test("Money(parsing:) keeps the currency")
    func moneyParsing() throws {
        let money = try Money(parsing: "1 234,56", currency: .eur)
        #expect(money == Money(cents: 123_456, currency: .eur))
        #expect(money.description == "1234.56 EUR")
    }
}

@Suite("Money: formatting, arithmetic and rounding rationals")
struct MoneyArithmeticTests {
    @Test("decimal strings have a point and two decimals", arguments: [
        (Int64(123_456), "1234.56"), (-1230, "-12.30"), (0, "0.00"), (5, "0.05"), (-5, "-0.05"), (100, "1.00"),
        (Int64.max, "92233720368547758.07"), (Int64.min, "-92233720368547758.08"),
    ])
    func formatting(cents: Int64, text: String) {
        #expect(Money.decimalString(cents: cents) == text)
        #expect(Money(cents: cents, currency: .usd).decimalString == text)
    }

    @Test("formatting then parsing gives the same cents")
    func roundTrip() throws {
        for cents: Int64 in [0, 1, -1, 99, 100, 101, -12_345, 987_654_321, Int64.max, -Int64.max] {
            #expect(try Money.parseCents(Money.decimalString(cents: cents)) == cents)
        }
    }

    @Test("adding and subtracting amounts of one currency")
    func addingAndSubtracting() throws {
        let invoice = Money(cents: 120_000, currency: .eur)
        let payment = Money(cents: 45_050, currency: .eur)
        #expect(try invoice.subtracting(payment) == Money(cents: 74_950, currency: .eur))
        #expect(try invoice.adding(payment).decimalString == "1650.50")
        #expect(try payment.negated().cents == -45_050)
        #expect(Money.zero(.eur).isZero)
        #expect(payment.isPositive && !payment.isNegative)
    }

    @Test("mixing currencies is an error")
    func currencyMismatch() {
        let error = #expect(throws: LedgerError.self) {
            try Money(cents: 100, currency: .eur).adding(Money(cents: 100, currency: .usd))
        }
        #expect(error?.code == .currencyMismatch)
    }

    @Test("overflowing arithmetic is an error, not a trap")
    func arithmeticOverflow() {
        let largest = Money(cents: Int64.max, currency: .eur)
        let addError = #expect(throws: LedgerError.self) { try largest.adding(Money(cents: 1, currency: .eur)) }
        #expect(addError?.code == .amountOutOfRange)
        let subtractError = #expect(throws: LedgerError.self) {
            try Money(cents: Int64.min, currency: .eur).subtracting(Money(cents: 1, currency: .eur))
        }
        #expect(subtractError?.code == .amountOutOfRange)
        let negateError = #expect(throws: LedgerError.self) { try Money(cents: Int64.min, currency: .eur).negated() }
        #expect(negateError?.code == .amountOutOfRange)
    }

    @Test("rounding an exact rational to the cent, half away from zero", arguments: [
        (Int128(1), Int128(2), Int64(1)), (-1, 2, -1), (1, 3, 0), (2, 3, 1), (-5, 10, -1), (5, -10, -1),
        (-4, 10, 0), (15, 10, 2), (-15, 10, -2), (0, -7, 0), (1_000_000, 1, 1_000_000),
    ])
    func rationalRounding(numerator: Int128, denominator: Int128, cents: Int64) throws {
        #expect(try Money.centsRoundedHalfAwayFromZero(numerator, over: denominator) == cents)
    }

    @Test("late-payment interest: 1,000.00 € at 13.15 % for 31 days is 11.17 €")
    func interestExample() throws {
        // Σ balance × rate ÷ 365 over 31 days, kept exact: 100000 cents × 1315 bp × 31 ÷ (365 × 10000).
        let numerator = Int128(100_000) * 1315 * 31
        let interest = try Money(roundingCents: numerator, over: 365 * 10_000, currency: .eur)
        #expect(interest.decimalString == "11.17")
    }

    @Test("rounding reports a zero denominator and results past 64 bits")
    func rationalRoundingErrors() {
        let zero = #expect(throws: LedgerError.self) { try Money.centsRoundedHalfAwayFromZero(1, over: 0) }
        #expect(zero?.code == .divisionByZero)
        let huge = #expect(throws: LedgerError.self) {
            try Money.centsRoundedHalfAwayFromZero(Int128(Int64.max) * 4, over: 2)
        }
        #expect(huge?.code == .amountOutOfRange)
        let hugeNegative = #expect(throws: LedgerError.self) {
            try Money.centsRoundedHalfAwayFromZero(Int128.min, over: 1)
        }
        #expect(hugeNegative?.code == .amountOutOfRange)
    }
}

@Suite("CurrencyCode")
struct CurrencyCodeTests {
    @Test("three uppercase letters are a currency code")
    func valid() throws {
        #expect(try CurrencyCode("EUR") == .eur)
        #expect(try CurrencyCode("JPY").code == "JPY")
    }

    @Test("anything else is refused", arguments: ["eur", "EURO", "EU", "E1R", "", " EUR", "€"])
    func invalid(text: String) {
        let error = #expect(throws: LedgerError.self) { try CurrencyCode(text) }
        #expect(error?.code == .invalidCurrency)
    }

    @Test("encodes as its string and refuses bad codes when decoding")
    func codable() throws {
        let data = try JSONEncoder().encode([CurrencyCode.usd])
        #expect(String(decoding: data, as: UTF8.self) == "[\"USD\"]")
        #expect(try JSONDecoder().decode([CurrencyCode].self, from: Data("[\"CHF\"]".utf8)) == [.chf])
        #expect(throws: (any Error).self) { try JSONDecoder().decode([CurrencyCode].self, from: Data("[\"chf\"]".utf8)) }
    }
}
