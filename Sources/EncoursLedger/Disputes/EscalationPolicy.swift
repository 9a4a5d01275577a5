import Foundation

/// A tenant's dispute escalation tiers, each with an SLA in business days (SPEC §7).
public struct EscalationPolicy: Sendable, Hashable {
    /// One tier: who handles the dispute, for how many business days, and how they are told.
    public struct Tier: Sendable, Hashable {
        public var name: String
        public var slaDays: Int
        /// `email:ADDRESS` or `webhook`; nil to notify nobody.
        public var notify: String?
        public init(name: String, slaDays: Int, notify: String? = nil) {
            self.name = name
            self.slaDays = slaDays
            self.notify = notify
        }
    }

    public var tiers: [Tier]

    /// account_manager 5, finance_manager 5, legal 10 business days.
    public static let standard = EscalationPolicy(tiers: [
        Tier(name: "account_manager", slaDays: 5), Tier(name: "finance_manager", slaDays: 5), Tier(name: "legal", slaDays: 10),
    ])

    public init(tiers: [Tier]) { self.tiers = tiers }

    /// Parses the `escalation_policy` setting; nil or empty text gives ``standard``.
    ///
    /// The one parser of the setting: `tenant set` validates with it, disputes read with it.
    /// Errors name the tier (by position and name) and what is wrong with it.
    public init(json text: String?) throws(LedgerError) {
        guard let text, !text.isEmpty else {
            self = .standard
            return
        }
        func bad(_ why: String) -> LedgerError { LedgerError(.invalidValue, "invalid escalation_policy: \(why)") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw bad("not a JSON object")
        }
        guard let tiers = object["tiers"] as? [[String: Any]], !tiers.isEmpty else {
            throw bad("expected \"tiers\": a non-empty array of {name, sla_days, notify}")
        }
        var parsed: [Tier] = []
        for (index, tier) in tiers.enumerated() {
            guard let name = tier["name"] as? String, !name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw bad("tier \(index + 1) has no name")
            }
            guard let days = tier["sla_days"] as? Int, (1...365).contains(days) else {
                throw bad("tier \(name): sla_days must be a whole number of business days from 1 to 365")
            }
            var notify: String?
            if let value = tier["notify"], !(value is NSNull) {
                guard let text = value as? String, text == "webhook" || Self.isEmailTarget(text) else {
                    throw bad("tier \(name): notify must be email:ADDRESS or webhook")
                }
                notify = text
            }
            guard !parsed.contains(where: { $0.name == name }) else { throw bad("tier \(name) is named twice") }
            parsed.append(Tier(name: name, slaDays: days, notify: notify))
        }
        self.tiers = parsed
    }

    /// `email:` followed by something shaped like an address.
    static func isEmailTarget(_ text: String) -> Bool {
        guard text.hasPrefix("email:") else { return false }
        let address = text.dropFirst("email:".count)
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !address.contains(where: \.isWhitespace)
    }
}
