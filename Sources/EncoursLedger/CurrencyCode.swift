/// An ISO 4217 currency code: exactly three uppercase ASCII letters, such as `EUR`.
///
/// Only the form is checked, not membership of the ISO list, so that a newly created currency
/// never needs a release. Encodes to and decodes from its three-letter string.
public struct CurrencyCode: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The three uppercase letters.
    public let code: String

    /// The euro.
    public static let eur = CurrencyCode(validated: "EUR")
    /// The US dollar.
    public static let usd = CurrencyCode(validated: "USD")
    /// The pound sterling.
    public static let gbp = CurrencyCode(validated: "GBP")
    /// The Swiss franc.
    public static let chf = CurrencyCode(validated: "CHF")

    /// Creates a code from exactly three uppercase ASCII letters; anything else is `invalidCurrency`.
    public init(_ code: String) throws(LedgerError) {
        var copy = code
        let valid = copy.withUTF8 { bytes in
            bytes.count == 3 && bytes.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
        }
        guard valid else {
            throw LedgerError(.invalidCurrency, "not a currency code (three letters such as EUR)", value: code)
        }
        self.code = code
    }

    /// Creates a code from text already known to be three uppercase ASCII letters.
    init(validated code: String) {
        self.code = code
    }

    /// Reads three ASCII letters in any case, as import files write them, and uppercases them.
    static func lenient(_ bytes: UnsafeBufferPointer<UInt8>) -> CurrencyCode? {
        guard bytes.count == 3 else { return nil }
        for byte in bytes {
            let isLetter = (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            guard isLetter else { return nil }
        }
        let text = String(unsafeUninitializedCapacity: 3) { buffer in
            for index in 0..<3 {
                buffer[index] = bytes[index] & 0xDF  // ASCII uppercase
            }
            return 3
        }
        return CurrencyCode(validated: text)
    }

    /// Decodes the code from a single string, rejecting anything that is not three uppercase letters.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        try self.init(text)
    }

    /// Encodes the code as its three-letter string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }

    /// Orders codes alphabetically.
    public static func < (lhs: CurrencyCode, rhs: CurrencyCode) -> Bool {
        lhs.code < rhs.code
    }

    /// The three letters.
    public var description: String { code }
}
