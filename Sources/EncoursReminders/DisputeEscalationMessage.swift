import Foundation
import EncoursLedger

/// The notification a dispute escalation sends a tier, in the tenant's language: one subject and
/// a plain text listing the disputes moved to that tier (or breached at it) in one run.
public enum DisputeEscalationMessage {
    /// Writes the message for `notices` (not empty; all for the same tier). French unless the
    /// tenant's language is `en`. Lists at most ``DisputeEscalationNotice/maximumPerNotification``.
    public static func compose(_ notices: [DisputeEscalationNotice]) -> NotificationText {
        guard let first = notices.first else { return NotificationText(subject: "", text: "") }
        let language = ReminderLanguage(rawValue: first.language) ?? .fr
        let listed = notices.prefix(DisputeEscalationNotice.maximumPerNotification)
        let more = notices.count - listed.count
        let breached = notices.filter(\.breached).count
        let moved = notices.count - breached
        func money(_ notice: DisputeEscalationNotice) -> String {
            MoneyFormat.format(cents: notice.amountCents ?? notice.invoiceAmountCents, currency: notice.currency, language: language)
        }
        switch language {
        case .fr:
            let date = DateFormat.format(first.onDate, language: .fr)
            let counts = [
                moved > 0 ? "\(moved) litige\(moved > 1 ? "s" : "") escaladé\(moved > 1 ? "s" : "")" : nil,
                breached > 0 ? "\(breached) litige\(breached > 1 ? "s" : "") hors délai" : nil,
            ].compactMap { $0 }.joined(separator: ", ")
            let lines = listed.map { notice in
                let what = notice.breached
                    ? "délai dépassé au dernier niveau (échéance \(notice.deadline.map { DateFormat.short($0, language: .fr) } ?? "-"))"
                    : "à traiter avant le \(notice.deadline.map { DateFormat.short($0, language: .fr) } ?? "-")"
                return "- \(notice.disputeID) : facture \(notice.invoiceID), \(notice.customerName) (\(notice.customerID)), "
                    + "\(money(notice)), motif \(frenchReason(notice.reason)), ouvert le \(DateFormat.short(notice.openedOn, language: .fr)) ; \(what)"
            }
            return NotificationText(
                subject: "Litiges : \(counts) pour \(first.tierName) au \(date)",
                text: "Niveau \(first.tier) (\(first.tierName)) : \(counts) au \(date).\n\n" + lines.joined(separator: "\n")
                    + (more > 0 ? "\n… et \(more) autres." : "")
                    + "\n\nLe détail d'un litige : encours disputes show ID\n")
        case .en:
            let date = DateFormat.format(first.onDate, language: .en)
            let counts = [
                moved > 0 ? "\(moved) dispute\(moved > 1 ? "s" : "") escalated" : nil,
                breached > 0 ? "\(breached) dispute\(breached > 1 ? "s" : "") breached" : nil,
            ].compactMap { $0 }.joined(separator: ", ")
            let lines = listed.map { notice in
                let what = notice.breached
                    ? "past its deadline at the last tier (due \(notice.deadline?.isoString ?? "-"))"
                    : "to handle by \(notice.deadline?.isoString ?? "-")"
                return "- \(notice.disputeID): invoice \(notice.invoiceID), \(notice.customerName) (\(notice.customerID)), "
                    + "\(money(notice)), reason \(notice.reason.rawValue.replacingOccurrences(of: "_", with: " ")), "
                    + "opened \(notice.openedOn.isoString); \(what)"
            }
            return NotificationText(
                subject: "Disputes: \(counts) for \(first.tierName) on \(date)",
                text: "Tier \(first.tier) (\(first.tierName)): \(counts) on \(date).\n\n" + lines.joined(separator: "\n")
                    + (more > 0 ? "\n… and \(more) more." : "")
                    + "\n\nA dispute in detail: encours disputes show ID\n")
        }
    }

    static func frenchReason(_ reason: DisputeReason) -> String {
        switch reason {
        case .pricing: "prix"
        case .quality: "qualité"
        case .quantity: "quantité"
        case .notReceived: "non reçu"
        case .duplicateBilling: "double facturation"
        case .other: "autre"
        }
    }
}
