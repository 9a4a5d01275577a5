import EncoursLedger

/// The notification risk alerts send the tenant, in its language: a subject and a short plain text.
public enum RiskAlertMessage {
    /// Writes the message for one alert, or the digest of a recalculation's alerts (French
    /// unless the tenant's language is `en`). `notices` is not empty.
    public static func compose(_ notices: [RiskAlertNotice]) -> NotificationText {
        guard let first = notices.first else { return NotificationText(subject: "", text: "") }
        if notices.count == 1 { return compose(first) }
        let language = ReminderLanguage(rawValue: first.language) ?? .fr
        let listed = notices.prefix(RiskAlertNotice.maximumListedInDigest).map { "- " + compose($0).subject.drop { $0 != ":" }.dropFirst(2) }
        let more = notices.count - listed.count
        switch language {
        case .fr:
            let date = DateFormat.format(first.asOf, language: .fr)
            return NotificationText(
                subject: "Alertes risque : \(notices.count) alertes au \(date)",
                text: "\(notices.count) alertes de risque au \(date) :\n\n" + listed.joined(separator: "\n")
                    + (more > 0 ? "\n… et \(more) autres." : "")
                    + "\n\nLe détail des scores : encours risk show\n")
        case .en:
            let date = DateFormat.format(first.asOf, language: .en)
            return NotificationText(
                subject: "Risk alerts: \(notices.count) alerts at \(date)",
                text: "\(notices.count) risk alerts at \(date):\n\n" + listed.joined(separator: "\n")
                    + (more > 0 ? "\n… and \(more) more." : "")
                    + "\n\nThe scores explained: encours risk show\n")
        }
    }

    /// Writes the subject and body for one alert.
    public static func compose(_ notice: RiskAlertNotice) -> NotificationText {
        let language = ReminderLanguage(rawValue: notice.language) ?? .fr
        func money(_ cents: Int128) -> String { MoneyFormat.format(wideCents: cents, currency: notice.currency, language: language) }
        let who = "\(notice.customerName) (\(notice.customerID))"
        let limit = notice.creditLimitCents.map { money(Int128($0)) }
        switch language {
        case .fr:
            let subject: String
            let headline: String
            switch notice.alert {
            case .gradeWorsened(let from, let to):
                subject = "Alerte risque : \(who) passe de \(from.rawValue) à \(to.rawValue)"
                headline = "La note de risque du client \(who) s'est dégradée de \(from.rawValue) à \(to.rawValue)."
            case .creditLimitExceeded:
                subject = "Alerte risque : \(who) dépasse sa limite de crédit"
                headline = "L'encours du client \(who) dépasse sa limite de crédit."
            }
            let text = """
                \(headline)

                Date : \(DateFormat.format(notice.asOf, language: .fr))
                Score : \(notice.score)/100, note \(notice.grade.rawValue)
                Encours : \(money(notice.exposureCents))
                Échu : \(money(notice.overdueCents))
                Limite de crédit : \(limit ?? "aucune")
                Recommandation : \(frenchRecommendation(notice.recommendation))

                Le détail du score : encours risk show --customer \(notice.customerID)

                """
            return NotificationText(subject: subject, text: text)
        case .en:
            let subject: String
            let headline: String
            switch notice.alert {
            case .gradeWorsened(let from, let to):
                subject = "Risk alert: \(who) downgraded from \(from.rawValue) to \(to.rawValue)"
                headline = "The risk grade of customer \(who) worsened from \(from.rawValue) to \(to.rawValue)."
            case .creditLimitExceeded:
                subject = "Risk alert: \(who) is over its credit limit"
                headline = "The exposure of customer \(who) is above its credit limit."
            }
            let text = """
                \(headline)

                Date: \(DateFormat.format(notice.asOf, language: .en))
                Score: \(notice.score)/100, grade \(notice.grade.rawValue)
                Exposure: \(money(notice.exposureCents))
                Overdue: \(money(notice.overdueCents))
                Credit limit: \(limit ?? "none")
                Recommendation: \(notice.recommendation.rawValue.replacingUnderscores())

                The score explained: encours risk show --customer \(notice.customerID)

                """
            return NotificationText(subject: subject, text: text)
        }
    }

    static func frenchRecommendation(_ recommendation: RiskRecommendation) -> String {
        switch recommendation {
        case .none: "aucune"
        case .watch: "surveiller"
        case .requireDeposit: "exiger un acompte"
        case .creditInsurance: "assurance-crédit"
        case .factoring: "affacturage"
        case .stopCredit: "arrêter le crédit"
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? " " : $0 })
    }
}
