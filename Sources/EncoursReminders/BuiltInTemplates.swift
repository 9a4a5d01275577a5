/// The built-in reminder templates, in the binary (no resource files to install).
///
/// Each level has a subject, a plain-text body and an HTML document; the HTML is one printable
/// A4 layout (sender and addressee blocks, the letter, the statement table, the totals) shared by
/// emails and letters. The statement and the legal text of the formal notice are common parts.
enum BuiltInTemplates {
    struct Source {
        var subject: String
        var text: String
        var html: String
    }

    /// The words of one level in one language.
    struct Wording {
        var subject: String
        var title: String
        /// Paragraphs before the statement (Mustache, HTML-escaped in the HTML part).
        var opening: [String]
        /// Paragraphs after the statement.
        var closing: [String]
    }

    static var all: [(ReminderTemplates.Key, Source)] {
        var result: [(ReminderTemplates.Key, Source)] = []
        for (name, byLanguage) in wordings {
            for (language, wording) in byLanguage {
                result.append((ReminderTemplates.Key(name: name, language: language), source(wording, language: language)))
            }
        }
        return result
    }

    static let wordings: [String: [ReminderLanguage: Wording]] = [
        "friendly": [
            .fr: Wording(
                subject: "Rappel : facture{{#several}}s{{/several}} échue{{#several}}s{{/several}} — {{total_balance}}",
                title: "Rappel de paiement",
                opening: [
                    "Madame, Monsieur,",
                    "Sauf erreur de notre part, {{#several}}les factures ci-dessous restent{{/several}}{{^several}}la facture ci-dessous reste{{/several}} impayée{{#several}}s{{/several}} à ce jour, pour un total de {{total_balance}}. Il s'agit peut-être d'un simple oubli.",
                ],
                closing: [
                    "Nous vous remercions de bien vouloir procéder au règlement dans les meilleurs délais. Si votre paiement nous est parvenu entre-temps, merci de ne pas tenir compte de ce message.",
                    "Cordialement,",
                ]),
            .en: Wording(
                subject: "Reminder: overdue invoice{{#several}}s{{/several}} — {{total_balance}}",
                title: "Payment reminder",
                opening: [
                    "Dear {{customer_name}},",
                    "According to our records, {{#several}}the invoices below remain{{/several}}{{^several}}the invoice below remains{{/several}} unpaid, for a total of {{total_balance}}. This may simply be an oversight.",
                ],
                closing: [
                    "We would be grateful if you could arrange payment at your earliest convenience. If you have already paid, please disregard this message.",
                    "Kind regards,",
                ]),
        ],
        "firm": [
            .fr: Wording(
                subject: "Deuxième relance : {{total_balance}} en retard de paiement",
                title: "Deuxième relance",
                opening: [
                    "Madame, Monsieur,",
                    "Malgré notre précédent rappel, {{#several}}les factures suivantes demeurent impayées{{/several}}{{^several}}la facture suivante demeure impayée{{/several}}. Le montant dû s'élève à {{total_balance}}.",
                ],
                closing: [
                    "Nous vous demandons de régulariser cette situation sans délai. À défaut, nous serons contraints d'engager une procédure de mise en demeure, avec application des pénalités de retard prévues par la loi.",
                    "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
                ]),
            .en: Wording(
                subject: "Second reminder: {{total_balance}} overdue",
                title: "Second reminder",
                opening: [
                    "Dear {{customer_name}},",
                    "Despite our previous reminder, {{#several}}the following invoices remain{{/several}}{{^several}}the following invoice remains{{/several}} unpaid. The amount due is {{total_balance}}.",
                ],
                closing: [
                    "Please settle this amount without delay. Failing payment, we will have to send a formal notice, and late-payment penalties will apply as provided by law.",
                    "Yours sincerely,",
                ]),
        ],
        "formal_notice": [
            .fr: Wording(
                subject: "Mise en demeure de payer — {{total_due}}",
                title: "Mise en demeure de payer",
                opening: [
                    "Madame, Monsieur,",
                    "Malgré nos relances, {{#several}}les factures ci-dessous restent impayées{{/several}}{{^several}}la facture ci-dessous reste impayée{{/several}}. Par la présente, nous vous mettons en demeure de nous régler la somme de {{total_due}} au plus tard le {{deadline}}.",
                ],
                closing: [
                    "À défaut de règlement à cette date, nous transmettrons le dossier à notre service de recouvrement et engagerons toute procédure utile, notamment une injonction de payer, sans autre avis.",
                    "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
                ]),
            .en: Wording(
                subject: "Formal notice to pay — {{total_due}}",
                title: "Formal notice to pay",
                opening: [
                    "Dear {{customer_name}},",
                    "Despite our reminders, {{#several}}the invoices below remain{{/several}}{{^several}}the invoice below remains{{/several}} unpaid. We hereby give you formal notice to pay the sum of {{total_due}} no later than {{deadline}}.",
                ],
                closing: [
                    "Failing payment by that date, we will hand the matter over to our collection department and take any appropriate legal action, including an order for payment, without further notice.",
                    "Yours faithfully,",
                ]),
        ],
        "collection_handoff": [
            .fr: Wording(
                subject: "Transmission au recouvrement — {{total_due}}",
                title: "Transmission du dossier au recouvrement",
                opening: [
                    "Madame, Monsieur,",
                    "Faute de règlement malgré notre mise en demeure, votre dossier ({{total_due}}) est transmis ce jour à notre service de recouvrement, qui prendra contact avec vous.",
                ],
                closing: [
                    "Seul un règlement intégral des sommes ci-dessous peut encore interrompre la procédure.",
                    "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
                ]),
            .en: Wording(
                subject: "Handed over to collection — {{total_due}}",
                title: "Account handed over to collection",
                opening: [
                    "Dear {{customer_name}},",
                    "As the amounts below remain unpaid despite our formal notice, your account ({{total_due}}) has today been handed over to our collection department, which will contact you.",
                ],
                closing: [
                    "Only full payment of the amounts below can still stop the proceedings.",
                    "Yours faithfully,",
                ]),
        ],
    ]

    /// The legal basis of penalties, printed when the level charges them.
    static func legal(_ language: ReminderLanguage) -> String {
        switch language {
        case .fr:
            return "Conformément aux articles L441-10 et D441-5 du Code de commerce, des pénalités de retard sont dues de plein droit, "
                + "sans qu'un rappel soit nécessaire, à compter du jour suivant la date d'échéance, au taux de refinancement de la "
                + "Banque centrale européenne majoré de {{margin_points}} points, soit {{total_interest}} à ce jour ; s'y ajoute une "
                + "indemnité forfaitaire pour frais de recouvrement de 40 € par facture (article D441-5), soit {{total_indemnity}}."
        case .en:
            return "Under articles L441-10 and D441-5 of the French Commercial Code (Code de commerce), late-payment penalties are due "
                + "by right, without any reminder being needed, from the day after the due date, at the European Central Bank's main "
                + "refinancing rate plus {{margin_points}} percentage points: {{total_interest}} to date; a flat recovery indemnity of "
                + "€40 per invoice (article D441-5) is also due: {{total_indemnity}}."
        }
    }

    struct Labels {
        var invoice, issued, due, amount, balance, daysLate, interest, indemnity, totalBalance, totalInterest, totalIndemnity, totalDue, date, reference, customer: String
    }

    static func labels(_ language: ReminderLanguage) -> Labels {
        switch language {
        case .fr:
            return Labels(
                invoice: "Facture", issued: "Émise le", due: "Échéance", amount: "Montant", balance: "Restant dû", daysLate: "Jours de retard",
                interest: "Intérêts", indemnity: "Indemnité", totalBalance: "Total restant dû", totalInterest: "Pénalités de retard",
                totalIndemnity: "Indemnités forfaitaires", totalDue: "Total à payer", date: "Le", reference: "Référence", customer: "Client")
        case .en:
            return Labels(
                invoice: "Invoice", issued: "Issued", due: "Due", amount: "Amount", balance: "Balance", daysLate: "Days overdue",
                interest: "Interest", indemnity: "Indemnity", totalBalance: "Total balance", totalInterest: "Late-payment interest",
                totalIndemnity: "Recovery indemnities", totalDue: "Total due", date: "Date", reference: "Reference", customer: "Customer")
        }
    }

    static func source(_ wording: Wording, language: ReminderLanguage) -> Source {
        let label = labels(language)
        // Plain text: the statement as aligned lines.
        var text = "{{creditor_name}}\n\(label.date) {{as_of}} — \(label.reference) {{reminder_id}} — \(label.customer) {{customer_id}}\n\n"
        text += "\(wording.title.uppercased())\n\n"
        text += wording.opening.joined(separator: "\n\n") + "\n\n"
        text += "{{#items}}- \(label.invoice) {{invoice_id}} — \(label.issued) {{issue_date}}, \(label.due) {{due_date}} — \(label.amount) {{amount}}, "
            + "\(label.balance) {{balance}}, {{days_overdue}} \(label.daysLate.lowercased())\n{{/items}}"
        text += "{{#has_penalties}}{{#items}}{{#overdue}}  \(label.invoice) {{invoice_id}}: \(label.interest.lowercased()) {{interest}}, \(label.indemnity.lowercased()) {{indemnity}}\n{{/overdue}}{{/items}}{{/has_penalties}}"
        text += "\n\(label.totalBalance): {{total_balance}}\n"
        text += "{{#has_penalties}}\(label.totalInterest): {{total_interest}}\n\(label.totalIndemnity): {{total_indemnity}}\n\(label.totalDue): {{total_due}}\n\n\(legal(language))\n{{/has_penalties}}"
        text += "\n" + wording.closing.joined(separator: "\n\n") + "\n{{creditor_name}}\n"

        let paragraphs = { (list: [String]) in list.map { "<p>\($0)</p>" }.joined(separator: "\n") }
        let html = """
            <!DOCTYPE html>
            <html lang="\(language.rawValue)">
            <head>
            <meta charset="utf-8">
            <title>\(wording.title) — {{creditor_name}}</title>
            <style>
            @page { size: A4; margin: 20mm; }
            body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 11pt; color: #111; max-width: 180mm; margin: 0 auto; }
            .parties { display: flex; justify-content: space-between; margin-bottom: 12mm; }
            .addressee { text-align: right; }
            h1 { font-size: 15pt; margin: 8mm 0 5mm; }
            table { border-collapse: collapse; width: 100%; margin: 5mm 0; font-size: 9.5pt; }
            th, td { border: 1px solid #999; padding: 2mm; text-align: left; }
            td.number, th.number { text-align: right; white-space: nowrap; }
            .totals td { font-weight: bold; }
            .legal { font-size: 9pt; border-left: 3px solid #999; padding-left: 3mm; }
            .meta { color: #444; font-size: 9pt; }
            </style>
            </head>
            <body>
            <div class="parties">
            <div class="creditor"><strong>{{creditor_name}}</strong>{{#creditor_email}}<br>{{creditor_email}}{{/creditor_email}}</div>
            <div class="addressee"><strong>{{customer_name}}</strong><br>\(label.customer) {{customer_id}}{{#customer_email}}<br>{{customer_email}}{{/customer_email}}</div>
            </div>
            <p class="meta">\(label.date) {{as_of}} — \(label.reference) {{reminder_id}}</p>
            <h1>\(wording.title)</h1>
            \(paragraphs(wording.opening))
            <table>
            <thead><tr><th>\(label.invoice)</th><th>\(label.issued)</th><th>\(label.due)</th><th class="number">\(label.amount)</th><th class="number">\(label.balance)</th><th class="number">\(label.daysLate)</th>{{#has_penalties}}<th class="number">\(label.interest)</th><th class="number">\(label.indemnity)</th>{{/has_penalties}}</tr></thead>
            <tbody>
            {{#items}}<tr><td>{{invoice_id}}</td><td>{{issue_date}}</td><td>{{due_date}}</td><td class="number">{{amount}}</td><td class="number">{{balance}}</td><td class="number">{{days_overdue}}</td>{{#has_penalties}}<td class="number">{{interest}}</td><td class="number">{{indemnity}}</td>{{/has_penalties}}</tr>
            {{/items}}</tbody>
            </table>
            <table class="totals">
            <tr><td>\(label.totalBalance)</td><td class="number">{{total_balance}}</td></tr>
            {{#has_penalties}}<tr><td>\(label.totalInterest)</td><td class="number">{{total_interest}}</td></tr>
            <tr><td>\(label.totalIndemnity)</td><td class="number">{{total_indemnity}}</td></tr>
            <tr><td>\(label.totalDue)</td><td class="number">{{total_due}}</td></tr>{{/has_penalties}}
            </table>
            {{#has_penalties}}<p class="legal">\(legal(language))</p>{{/has_penalties}}
            \(paragraphs(wording.closing))
            <p><strong>{{creditor_name}}</strong></p>
            </body>
            </html>

            """
        return Source(subject: wording.subject, text: text, html: html)
    }
}
