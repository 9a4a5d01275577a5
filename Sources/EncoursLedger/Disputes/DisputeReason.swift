import Foundation

/// Why a customer disputes an invoice: one of six codes, so disputes can be counted and routed.
public enum DisputeReason: String, Sendable, Hashable, CaseIterable, Codable {
    /// The price or a discount is wrong.
    case pricing
    /// The goods or the service were defective.
    case quality
    /// Fewer items were delivered than invoiced.
    case quantity
    /// Nothing was received.
    case notReceived = "not_received"
    /// The same delivery was invoiced twice.
    case duplicateBilling = "duplicate_billing"
    /// Anything else (say what in the dispute's note).
    case other

    /// The codes as the CLI and the CSV files write them: `pricing, quality, ...`.
    public static let codeList = allCases.map(\.rawValue).joined(separator: ", ")

    /// Reads a code, case and spacing aside, or its French name (`prix`, `qualité`, `quantité`,
    /// `non reçu`, `doublon`, `autre`); nil for anything else.
    public init?(code text: String) {
        let folded = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            .replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "-", with: "_")
        if let known = DisputeReason(rawValue: folded) {
            self = known
            return
        }
        switch folded {
        case "prix", "tarif": self = .pricing
        case "qualité", "qualite", "défaut", "defaut": self = .quality
        case "quantité", "quantite": self = .quantity
        case "non_reçu", "non_recu", "non_livré", "non_livre": self = .notReceived
        case "doublon", "double_facturation": self = .duplicateBilling
        case "autre": self = .other
        default: return nil
        }
    }

    /// The one-line refusal of an unknown reason, naming the value and the codes.
    public static func unknownMessage(_ text: String) -> String {
        "unknown reason \"\(text.prefix(60))\": expected one of \(codeList)"
    }
}

/// A dispute's note: the customer's words, free text.
public enum DisputeNote {
    /// The longest note kept (characters).
    public static let maximumLength = 2000
}
