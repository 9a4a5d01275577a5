import Foundation

/// A job's payload: a JSON object of at most 1 MiB, validated once, with typed field access.
///
/// The one place payload text is parsed: enqueue validates with it, handlers read with it.
/// Refused: anything but a JSON object, more than ``maximumBytes`` of UTF-8, and a NUL character
/// in any key or string (`\u0000`: PostgreSQL's `jsonb` cannot store it).
public struct JobPayload: Sendable {
    /// The largest payload accepted at enqueue: 1 MiB of UTF-8.
    public static let maximumBytes = 1 << 20

    /// The payload as given.
    public let text: String
    private let fields: [String: Field]

    /// A top-level field's value, as far as the accessors need it.
    private enum Field: Sendable {
        case string(String), integer(Int), number(Double), bool(Bool), integers([Int]), strings([String]), null, other
    }

    /// Parses and checks `text`, a payload offered for enqueueing; throws `invalidInput` with a
    /// one-line reason.
    public init(_ text: String) throws(QueueError) {
        try self.init(text, limit: Self.maximumBytes)
    }

    /// Parses a payload as the database gives it back (a handler's job): PostgreSQL stores it as
    /// `jsonb` and prints it with a space after every `,` and `:`, so a payload accepted at
    /// 1 MiB may read back larger; the enqueue limit is not checked again.
    public init(stored text: String) throws(QueueError) {
        try self.init(text, limit: 4 * Self.maximumBytes)
    }

    private init(_ text: String, limit: Int) throws(QueueError) {
        let size = text.utf8.count
        guard size <= limit else {
            throw QueueError(.invalidInput, "payload is \(size) bytes; the limit is \(Self.maximumBytes) (1 MiB)")
        }
        guard !text.hasPrefix("\u{FEFF}") else {
            throw QueueError(.invalidInput, "payload starts with a byte order mark (U+FEFF); remove it")
        }
        self.text = text
        if text == "{}" {
            fields = [:]
            return
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            let opensAnObject = text.drop(while: { $0.isWhitespace }).first == "{"
            throw QueueError(
                .invalidInput,
                opensAnObject
                    ? "payload is not JSON that Encours reads (a syntax error, nesting deeper than 512 levels, a number beyond ±1.8e308, or a lone surrogate escape): \(Self.excerpt(text))"
                    : "payload is not a JSON object: \(Self.excerpt(text))")
        }
        guard let object = parsed as? [String: Any] else {
            throw QueueError(.invalidInput, "payload is not a JSON object: \(Self.excerpt(text))")
        }
        if let path = Self.pathToNUL(in: object, path: "") {
            throw QueueError(.invalidInput, "payload field \(path) contains \\u0000 (NUL), which PostgreSQL cannot store")
        }
        var fields: [String: Field] = [:]
        for (key, value) in object {
            switch value {
            case is NSNull: fields[key] = .null
            case let text as String: fields[key] = .string(text)
            case let number as NSNumber:
                if Self.isBoolean(number) {
                    fields[key] = .bool(number.boolValue)
                } else if let integer = Int(exactly: number) {
                    fields[key] = .integer(integer)
                } else {
                    fields[key] = .number(number.doubleValue)
                }
            case let array as [Any]:
                let integers = array.compactMap { element -> Int? in
                    guard let number = element as? NSNumber, !Self.isBoolean(number) else { return nil }
                    return Int(exactly: number)
                }
                if integers.count == array.count {
                    fields[key] = .integers(integers)
                } else if let strings = array as? [String] {
                    fields[key] = .strings(strings)
                } else {
                    fields[key] = .other
                }
            default: fields[key] = .other
            }
        }
        self.fields = fields
    }

    /// A string field; nil when absent or null; throws when it holds something else.
    public func string(_ name: String) throws(QueueError) -> String? {
        switch fields[name] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw wrongType(name, "a string")
        }
    }

    /// A whole-number field (a JSON integer, or a string of digits); nil when absent or null.
    public func integer(_ name: String) throws(QueueError) -> Int? {
        switch fields[name] {
        case nil, .null?: return nil
        case .integer(let value)?: return value
        case .string(let text)?:
            guard let value = Int(text) else { throw wrongType(name, "a whole number") }
            return value
        default: throw wrongType(name, "a whole number")
        }
    }

    /// A field holding an array of whole numbers (`[]` included); nil when absent or null.
    public func integers(_ name: String) throws(QueueError) -> [Int]? {
        switch fields[name] {
        case nil, .null?: return nil
        case .integers(let values)?: return values
        default: throw wrongType(name, "an array of whole numbers")
        }
    }

    /// A field holding an array of strings (`[]` included); nil when absent or null.
    public func strings(_ name: String) throws(QueueError) -> [String]? {
        switch fields[name] {
        case nil, .null?: return nil
        case .strings(let values)?: return values
        case .integers(let values)? where values.isEmpty: return []
        default: throw wrongType(name, "an array of strings")
        }
    }

    /// The names of the payload's top-level fields, sorted.
    public var fieldNames: [String] { fields.keys.sorted() }

    /// A boolean field; nil when absent or null.
    public func bool(_ name: String) throws(QueueError) -> Bool? {
        switch fields[name] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw wrongType(name, "true or false")
        }
    }

    /// Decodes the whole payload into a `Decodable` type (for handlers with structured payloads).
    public func decode<T: Decodable>(_ type: T.Type) throws(QueueError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw QueueError(.invalidInput, "payload does not fit \(T.self): \(error)")
        }
    }

    /// Whether JSONSerialization read `number` from `true` or `false`.
    private static func isBoolean(_ number: NSNumber) -> Bool {
        String(describing: type(of: number)).contains("Bool")
    }

    private func wrongType(_ name: String, _ expected: String) -> QueueError {
        QueueError(.invalidInput, "payload field \(name) must be \(expected)")
    }

    /// The first 80 characters, on one line.
    /// At most 80 characters of `text`, on one line, control and bidi characters escaped
    /// (`\u{1B}`), for an error message on a terminal.
    static func excerpt(_ text: String) -> String {
        var line = ""
        for scalar in text.unicodeScalars.prefix(80) {
            if Self.isUnsafeOnATerminal(scalar) {
                line += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > 80 ? line + "…" : line
    }

    /// C0 and C1 controls, DEL, and the bidi embeddings, overrides and isolates.
    static func isUnsafeOnATerminal(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value)
            || (0x2066...0x2069).contains(scalar.value)
    }

    /// The path (`.a.b[2]`) of the first key or string holding a NUL character, if any.
    private static func pathToNUL(in value: Any, path: String) -> String? {
        switch value {
        case let text as String:
            return text.unicodeScalars.contains("\u{0}") ? (path.isEmpty ? "(root)" : path) : nil
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = pathToNUL(in: element, path: "\(path)[\(index)]") { return found }
            }
            return nil
        case let object as [String: Any]:
            for (key, element) in object {
                let here = "\(path).\(key.replacingOccurrences(of: "\u{0}", with: "\\u0000"))"
                if key.unicodeScalars.contains("\u{0}") { return here }
                if let found = pathToNUL(in: element, path: here) { return found }
            }
            return nil
        default:
            return nil
        }
    }
}
