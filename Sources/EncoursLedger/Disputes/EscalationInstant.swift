import Foundation

/// The instant T of a dispute escalation, as given to `disputes escalate --at` or in a job's payload.
///
/// ISO 8601: a date (`2026-12-03`, midnight), or a date and time (`2026-12-03T09:30`, seconds and
/// fractions allowed, `T` or a space), with an offset (`Z`, `+01:00`) or without one; an instant
/// without an offset is read in the tenant's time zone.
public struct EscalationInstant: Sendable, Hashable {
    /// The text PostgreSQL reads (`timestamptz` with an offset, `timestamp` without).
    public let text: String
    /// True when the text carries its own offset.
    public let hasOffset: Bool
    /// The date part, as written.
    public let date: CalendarDate

    /// Parses `text`, or throws a one-line error naming it and the accepted forms.
    public init(parsing input: String) throws(LedgerError) {
        let text = input.trimmingCharacters(in: .whitespaces)
        func bad() -> LedgerError {
            LedgerError(.invalidValue, "invalid instant \"\(input.prefix(60))\": expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]")
        }
        let characters = Array(text.unicodeScalars)
        guard characters.count >= 10, characters.allSatisfy(\.isASCII) else { throw bad() }
        guard let date = try? CalendarDate(parsing: String(String.UnicodeScalarView(characters[0..<10]))), text.utf8.count >= 10,
              characters[4] == "-" else { throw bad() }
        guard (1900...2999).contains(date.year) else { throw bad() }
        var rest = Array(characters[10...])
        var hasOffset = false
        if !rest.isEmpty {
            guard rest[0] == "T" || rest[0] == " " else { throw bad() }
            rest.removeFirst()
            // Offset: Z, or +HH, +HHMM, +HH:MM at the end.
            if rest.last == "Z" || rest.last == "z" {
                rest.removeLast()
                hasOffset = true
            } else if let sign = rest.lastIndex(where: { $0 == "+" || $0 == "-" }) {
                let offset = rest[(sign + 1)...].filter { $0 != ":" }
                guard [2, 4].contains(offset.count), offset.allSatisfy({ ("0"..."9").contains($0) }),
                      let hours = Int(String(String.UnicodeScalarView(offset.prefix(2)))), hours <= 14 else { throw bad() }
                rest.removeSubrange(sign...)
                hasOffset = true
            }
            // HH:MM, then :SS and .fraction optionally.
            let time = String(String.UnicodeScalarView(rest))
            let pieces = time.split(separator: ":", omittingEmptySubsequences: false)
            guard (2...3).contains(pieces.count), pieces[0].count == 2, pieces[1].count == 2,
                  let hour = Int(pieces[0]), let minute = Int(pieces[1]), (0...23).contains(hour), (0...59).contains(minute) else { throw bad() }
            if pieces.count == 3 {
                let seconds = pieces[2].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                guard seconds[0].count == 2, let second = Int(seconds[0]), (0...59).contains(second),
                      seconds.count == 1 || (!seconds[1].isEmpty && seconds[1].count <= 6 && seconds[1].allSatisfy(\.isNumber)) else { throw bad() }
            }
        }
        self.text = text
        self.hasOffset = hasOffset
        self.date = date
    }
}
