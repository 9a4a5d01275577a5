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
    public init(json text: String?) throws(LedgerError) {
        guard let text, !text.isEmpty else {
            self = .standard
            return
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let tiers = object["tiers"] as? [[String: Any]], !tiers.isEmpty
        else {
            throw LedgerError(.invalidValue, "escalation_policy needs a non-empty \"tiers\" array")
        }
        var parsed: [Tier] = []
        for tier in tiers {
            guard let name = tier["name"] as? String, let days = tier["sla_days"] as? Int, days > 0 else {
                throw LedgerError(.invalidValue, "each escalation tier needs a name and a positive sla_days")
            }
            parsed.append(Tier(name: name, slaDays: days, notify: tier["notify"] as? String))
        }
        self.tiers = parsed
    }
}
