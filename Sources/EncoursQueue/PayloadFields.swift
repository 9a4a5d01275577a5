import Foundation

/// Read access to the top-level fields of a job's JSON payload.
public struct PayloadFields: Sendable {
    private let object: [String: any Sendable]

    /// Parses the payload; throws when it is not a JSON object.
    public init(_ payload: String) throws {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else {
            throw QueueError(.invalidInput, "payload is not a JSON object: \(payload.prefix(80))")
        }
        var fields: [String: any Sendable] = [:]
        for (key, value) in parsed {
            switch value {
            case let number as NSNumber: fields[key] = number.stringValue
            case let text as String: fields[key] = text
            default: continue
            }
        }
        object = fields
    }

    /// A string field, or nil.
    public func string(_ name: String) -> String? { object[name] as? String }

    /// An integer field (a JSON number or numeric string), or nil.
    public func integer(_ name: String) -> Int? { (object[name] as? String).flatMap { Int($0) } }
}
