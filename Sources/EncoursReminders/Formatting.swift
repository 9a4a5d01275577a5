import EncoursLedger

/// Amounts written for a reader: `1 234,56 €` in French, `€1,234.56` in English.
///
/// French groups thousands with a no-break space (U+00A0, `MoneyFormat.noBreakSpace`) and puts the
/// same space before the currency, so an amount never breaks across lines; a negative amount starts
/// with `-` (`-1 234,56 €`). English groups with commas and puts the symbol first (`-€1,234.56`).
/// EUR is `€` in both languages; in English USD is `$` and GBP `£`; every other currency is
/// written with its ISO code (`1 234,56 USD`, `CHF 1,234.56`). The arithmetic is on integers
/// (cents), exact up to `Int64.max` and, for sums, `Int128`.
public enum MoneyFormat {
    /// The no-break space French uses between digit groups and before the currency (U+00A0).
    public static let noBreakSpace = "\u{00A0}"

    /// The symbols English puts before the amount; other currencies are written with their code.
    static let englishSymbols = ["EUR": "€", "USD": "$", "GBP": "£"]

    /// An amount of `cents` in `currency`, written for `language`.
    public static func format(cents: Int64, currency: CurrencyCode, language: ReminderLanguage) -> String {
        format(wideCents: Int128(cents), currency: currency, language: language)
    }

    /// A sum that may exceed 64 bits (a total with penalties), written for `language`.
    public static func format(wideCents cents: Int128, currency: CurrencyCode, language: ReminderLanguage) -> String {
        let magnitude = cents.magnitude
        let units = String(magnitude / 100)
        let hundredths = magnitude % 100
        let fraction = (hundredths < 10 ? "0" : "") + String(hundredths)
        let sign = cents < 0 ? "-" : ""
        switch language {
        case .fr:
            let number = grouped(units, separator: noBreakSpace) + "," + fraction
            return sign + number + noBreakSpace + (currency.code == "EUR" ? "€" : currency.code)
        case .en:
            let number = grouped(units, separator: ",") + "." + fraction
            if let symbol = englishSymbols[currency.code] { return sign + symbol + number }
            return sign + currency.code + " " + number
        }
    }

    /// `digits` in groups of three from the right: `1234567` → `1,234,567`.
    static func grouped(_ digits: String, separator: String) -> String {
        var groups: [Substring] = []
        var end = digits.endIndex
        while end > digits.startIndex {
            let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
            groups.append(digits[start..<end])
            end = start
        }
        return groups.reversed().joined(separator: separator)
    }
}

/// Dates written for a reader, in full for the letter and short for the statement table.
public enum DateFormat {
    static let frenchMonths = [
        "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ]
    static let englishMonths = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]

    /// In full: `2 décembre 2026` (`1er` for the first of the month), `2 December 2026`.
    public static func format(_ date: CalendarDate, language: ReminderLanguage) -> String {
        let (year, month, day) = date.components
        switch language {
        case .fr: return "\(day == 1 ? "1er" : String(day)) \(frenchMonths[month - 1]) \(year)"
        case .en: return "\(day) \(englishMonths[month - 1]) \(year)"
        }
    }

    /// Short, for tables: `02/12/2026` in French, `2026-12-02` in English (unambiguous for every reader).
    public static func short(_ date: CalendarDate, language: ReminderLanguage) -> String {
        let (year, month, day) = date.components
        switch language {
        case .fr: return "\(day < 10 ? "0" : "")\(day)/\(month < 10 ? "0" : "")\(month)/\(year)"
        case .en: return date.isoString
        }
    }
}

/// Numbers other than amounts, written for a reader.
enum NumberFormat {
    /// A decimal as the tenant typed it (`8.5`), with the language's decimal mark (`8,5` in French).
    static func decimal(_ text: String, language: ReminderLanguage) -> String {
        switch language {
        case .fr: return String(text.map { $0 == "." ? "," : $0 })
        case .en: return text
        }
    }
}
