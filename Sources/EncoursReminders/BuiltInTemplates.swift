/// The built-in reminder templates, compiled into the binary (no resource files to install).
///
/// Each level has a subject, a plain-text body and an HTML document in French and in English. The
/// HTML is one printable A4 letter (sender and addressee blocks, date and reference, subject line,
/// the letter, the statement table, the totals, the legal basis when penalties apply) used both as
/// the email's HTML part and as the printed letter; its styles are inline (email clients drop
/// style sheets), with a `<style>` block only for the page size and print rules.
enum BuiltInTemplates {
    /// The three Mustache sources of one template.
    struct Source {
        var subject: String
        var text: String
        var html: String
    }

    /// When a level prints the legal basis of the penalties.
    enum LegalMention {
        /// Only when the level charges penalties (the amounts are then in the statement).
        case whenCharged
        /// Always: the amounts when charged, otherwise a reminder that they are due by law and reserved.
        case always
    }

    /// The words of one level in one language.
    struct Wording {
        var subject: String
        var title: String
        /// Paragraphs before the statement (Mustache; HTML-escaped values in the HTML part).
        var opening: [String]
        /// Paragraphs after the statement and the legal text.
        var closing: [String]
        var legal: LegalMention = .whenCharged
    }

    /// Every built-in template with its name and language.
    static var all: [(ReminderTemplates.Key, Source)] {
        var result: [(ReminderTemplates.Key, Source)] = []
        for (name, byLanguage) in wordings {
            for (language, wording) in byLanguage {
                result.append((ReminderTemplates.Key(name: name, language: language), source(wording, language: language)))
            }
        }
        return result
    }

    /// The no-break space of French typography (before `:` and `€`).
    static let space = "\u{00A0}"

    static let wordings: [String: [ReminderLanguage: Wording]] = [
        "friendly": [
            .fr: Wording(
                subject: "Rappel\(space): facture{{#several}}s{{/several}} échue{{#several}}s{{/several}} — {{total_balance}}",
                title: "Rappel de paiement",
                opening: [
                    "Madame, Monsieur,",
                    "Sauf erreur ou omission de notre part, {{#several}}les factures ci-dessous restent impayées{{/several}}{{^several}}la facture ci-dessous reste impayée{{/several}} à ce jour, pour un total de {{total_balance}}. Il s'agit peut-être d'un simple oubli.",
                ],
                closing: [
                    "Nous vous remercions de bien vouloir procéder au règlement dans les meilleurs délais. Si votre paiement nous est parvenu entre-temps, merci de ne pas tenir compte de ce message.",
                    "Nous restons à votre disposition pour toute question et vous prions d'agréer, Madame, Monsieur, nos salutations distinguées.",
                ]),
            .en: Wording(
                subject: "Reminder: overdue invoice{{#several}}s{{/several}} — {{total_balance}}",
                title: "Payment reminder",
                opening: [
                    "Dear {{customer_name}},",
                    "According to our records, {{#several}}the invoices below remain{{/several}}{{^several}}the invoice below remains{{/several}} unpaid, for a total of {{total_balance}}. This may simply be an oversight.",
                ],
                closing: [
                    "We would be grateful if you could arrange payment at your earliest convenience. If your payment has crossed this message, please disregard it.",
                    "Please do not hesitate to contact us with any question. Kind regards,",
                ]),
        ],
        "firm": [
            .fr: Wording(
                subject: "Deuxième relance\(space): {{total_balance}} en retard de paiement",
                title: "Deuxième relance",
                opening: [
                    "Madame, Monsieur,",
                    "Malgré notre précédent rappel, {{#several}}les factures suivantes demeurent impayées{{/several}}{{^several}}la facture suivante demeure impayée{{/several}}. Le montant restant dû s'élève à {{total_balance}}.",
                ],
                closing: [
                    "Nous vous demandons de régulariser cette situation sans délai. À défaut, nous serons contraints de vous adresser une mise en demeure, avec application des pénalités de retard et de l'indemnité forfaitaire prévues par la loi.",
                    "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
                ]),
            .en: Wording(
                subject: "Second reminder: {{total_balance}} overdue",
                title: "Second reminder",
                opening: [
                    "Dear {{customer_name}},",
                    "Despite our previous reminder, {{#several}}the following invoices remain{{/several}}{{^several}}the following invoice remains{{/several}} unpaid. The amount outstanding is {{total_balance}}.",
                ],
                closing: [
                    "Please settle this amount without delay. Failing payment, we will have to send you a formal notice, and the late-payment interest and flat recovery indemnity provided by law will apply.",
                    "Yours sincerely,",
                ]),
        ],
        "formal_notice": [
            .fr: Wording(
                subject: "Mise en demeure de payer — {{total_due}} avant le {{deadline}}",
                title: "Mise en demeure de payer",
                opening: [
                    "Madame, Monsieur,",
                    "Malgré nos précédentes relances, {{#several}}les factures ci-dessous restent impayées{{/several}}{{^several}}la facture ci-dessous reste impayée{{/several}}. Par la présente, nous vous mettons en demeure de nous régler la somme de {{total_due}} au plus tard le {{deadline}}.",
                ],
                closing: [
                    "À défaut de règlement intégral à cette date, le dossier sera transmis au recouvrement et nous engagerons, sans autre avis, toute action judiciaire utile, notamment une procédure d'injonction de payer.",
                    "La présente lettre vaut mise en demeure au sens de l'article 1344 du Code civil.",
                    "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
                ],
                legal: .always),
            .en: Wording(
                subject: "Formal notice to pay — {{total_due}} by {{deadline}}",
                title: "Formal notice to pay",
                opening: [
                    "Dear {{customer_name}},",
                    "Despite our previous reminders, {{#several}}the invoices below remain{{/several}}{{^several}}the invoice below remains{{/several}} unpaid. We hereby give you formal notice to pay the sum of {{total_due}} no later than {{deadline}}.",
                ],
                closing: [
                    "Failing full payment by that date, the matter will be handed over to collection and we will take any appropriate legal action, including an order for payment, without further notice.",
                    "This letter constitutes formal notice within the meaning of article 1344 of the French Civil Code.",
                    "Yours faithfully,",
                ],
                legal: .always),
        ],
        "collection_handoff": [
            .fr: Wording(
                subject: "Transmission de votre dossier au recouvrement — {{total_due}}",
                title: "Transmission du dossier au recouvrement",
                opening: [
                    "Madame, Monsieur,",
                    "Faute de règlement malgré notre mise en demeure, nous vous informons que votre dossier, d'un montant de {{total_due}}, a été transmis ce jour à notre service de recouvrement, qui prendra contact avec vous. Des poursuites judiciaires pourront être engagées sans autre avis.",
                ],
                closing: [
                    "Seul le règlement intégral des sommes ci-dessus peut encore interrompre la procédure. Pour tout règlement, merci de rappeler la référence {{reminder_id}}.",
                    "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
                ]),
            .en: Wording(
                subject: "Your account has been handed over to collection — {{total_due}}",
                title: "Account handed over to collection",
                opening: [
                    "Dear {{customer_name}},",
                    "As the amounts below remain unpaid despite our formal notice, your account, for a total of {{total_due}}, has today been handed over to our collection department, which will contact you. Legal proceedings may be brought without further notice.",
                ],
                closing: [
                    "Only full payment of the amounts above can still stop the proceedings. Please quote reference {{reminder_id}} with any payment.",
                    "Yours faithfully,",
                ]),
        ],
    ]

    /// The legal basis of the penalties, with their amounts (the level charges them).
    static func legalCharged(_ language: ReminderLanguage) -> String {
        switch language {
        case .fr:
            return "En application des articles L441-10 et D441-5 du Code de commerce, des pénalités de retard sont dues de plein droit, "
                + "sans qu'un rappel soit nécessaire, à compter du jour suivant la date d'échéance, au taux appliqué par la Banque "
                + "centrale européenne à son opération principale de refinancement la plus récente, majoré de {{margin_points}} points "
                + "de pourcentage\(space): elles s'élèvent à {{total_interest}} au {{as_of}}. Une indemnité forfaitaire pour frais de "
                + "recouvrement de 40\(space)€ est en outre due pour chaque facture payée en retard (article D441-5), soit {{total_indemnity}}."
        case .en:
            return "Under articles L441-10 and D441-5 of the French Commercial Code (Code de commerce), late-payment interest is due by "
                + "operation of law, without any reminder being needed, from the day after the due date, at the rate applied by the "
                + "European Central Bank to its most recent main refinancing operation plus {{margin_points}} percentage points: "
                + "{{total_interest}} as of {{as_of}}. A flat-rate indemnity for recovery costs of €40 is also due for each invoice "
                + "paid late (article D441-5): {{total_indemnity}}."
        }
    }

    /// The legal basis of the penalties when the level does not charge them (they stay due by law).
    static func legalReserved(_ language: ReminderLanguage) -> String {
        switch language {
        case .fr:
            return "Nous vous rappelons qu'en application des articles L441-10 et D441-5 du Code de commerce, des pénalités de retard "
                + "sont dues de plein droit, sans qu'un rappel soit nécessaire, à compter du jour suivant la date d'échéance, au taux "
                + "appliqué par la Banque centrale européenne à son opération principale de refinancement la plus récente, majoré de "
                + "{{margin_points}} points de pourcentage, ainsi qu'une indemnité forfaitaire pour frais de recouvrement de 40\(space)€ "
                + "par facture (article D441-5)\(space); nous nous réservons le droit de les réclamer."
        case .en:
            return "Please note that under articles L441-10 and D441-5 of the French Commercial Code (Code de commerce), late-payment "
                + "interest is due by operation of law, without any reminder being needed, from the day after the due date, at the rate "
                + "applied by the European Central Bank to its most recent main refinancing operation plus {{margin_points}} percentage "
                + "points, as is a flat-rate indemnity for recovery costs of €40 per invoice (article D441-5); we reserve the right to claim them."
        }
    }

    /// The words around the statement in one language.
    struct Labels {
        var invoice, issued, due, amount, balance, daysLate, interest, indemnity: String
        var totalBalance, totalInterest, totalIndemnity, totalDue: String
        var dated, reference, customer, subjectLine, statement, days, amountInText: String
    }

    static func labels(_ language: ReminderLanguage) -> Labels {
        switch language {
        case .fr:
            return Labels(
                invoice: "Facture", issued: "Émise le", due: "Échéance", amount: "Montant TTC", balance: "Restant dû",
                daysLate: "Jours de retard", interest: "Pénalités", indemnity: "Indemnité",
                totalBalance: "Total restant dû", totalInterest: "Pénalités de retard", totalIndemnity: "Indemnités forfaitaires",
                totalDue: "Total à payer", dated: "Le {{as_of}}", reference: "Réf.\(space): relance n°\(space){{reminder_id}}",
                customer: "Client", subjectLine: "Objet\(space):", statement: "Relevé des factures", days: "jours de retard", amountInText: "montant")
        case .en:
            return Labels(
                invoice: "Invoice", issued: "Issued", due: "Due", amount: "Amount", balance: "Balance",
                daysLate: "Days overdue", interest: "Interest", indemnity: "Indemnity",
                totalBalance: "Total balance", totalInterest: "Late-payment interest", totalIndemnity: "Recovery indemnities",
                totalDue: "Total due", dated: "{{as_of}}", reference: "Ref.: reminder no. {{reminder_id}}",
                customer: "Customer", subjectLine: "Subject:", statement: "Statement of account", days: "days overdue", amountInText: "amount")
        }
    }

    /// The legal paragraph of a level as Mustache, each text passed through `wrap` (a paragraph).
    static func legal(_ wording: Wording, language: ReminderLanguage, wrap: (String) -> String) -> String {
        let charged = "{{#has_penalties}}\(wrap(legalCharged(language))){{/has_penalties}}"
        switch wording.legal {
        case .whenCharged: return charged
        case .always: return charged + "{{^has_penalties}}\(wrap(legalReserved(language))){{/has_penalties}}"
        }
    }

    /// The three sources of one level in one language.
    static func source(_ wording: Wording, language: ReminderLanguage) -> Source {
        Source(subject: wording.subject, text: text(wording, language: language), html: html(wording, language: language))
    }

    /// The plain-text body: the letter with the statement as one line per invoice.
    static func text(_ wording: Wording, language: ReminderLanguage) -> String {
        let label = labels(language)
        let colon = language == .fr ? "\(space):" : ":"
        // Section tags never stand alone on a line: Mustache would drop that line and its line break.
        var text = "{{creditor_name}}{{#creditor_address}}\n{{.}}{{/creditor_address}}{{#creditor_email}}\n{{creditor_email}}{{/creditor_email}}\n\n"
        text += "{{customer_name}}{{#customer_address}}\n{{.}}{{/customer_address}}{{#customer_id}}\n\(label.customer)\(colon) {{customer_id}}{{/customer_id}}\n\n"
        text += "\(label.dated) — \(label.reference)\n\(label.subjectLine) \(wording.title)\n\n"
        text += wording.opening.joined(separator: "\n\n") + "\n\n"
        text += "\(label.statement)\(colon){{#items}}\n- \(label.invoice) {{invoice_id}} — \(label.issued.lowercased()) {{issue_date}}, "
            + "\(label.due.lowercased()) {{due_date}} — \(label.amountInText) {{amount}}, \(label.balance.lowercased()) {{balance}}, "
            + "{{days_overdue}} \(label.days){{#has_penalties}}, \(label.interest.lowercased()) {{interest}}, "
            + "\(label.indemnity.lowercased()) {{indemnity}}{{/has_penalties}}{{/items}}\n"
        text += "\n\(label.totalBalance)\(colon) {{total_balance}}\n"
        text += "{{#has_penalties}}\(label.totalInterest)\(colon) {{total_interest}}\n\(label.totalIndemnity)\(colon) {{total_indemnity}}\n{{/has_penalties}}"
        text += "\(label.totalDue)\(colon) {{total_due}}\n\n"
        text += legal(wording, language: language) { $0 + "\n\n" }
        text += wording.closing.joined(separator: "\n\n") + "\n\n{{creditor_name}}\n"
        return text
    }

    /// Inline styles (email clients keep `style` attributes and drop style sheets).
    enum Style {
        static let body = "margin:0;padding:0;background:#ffffff;color:#1a1a1a;font-family:'DejaVu Sans','Helvetica Neue',Arial,sans-serif;font-size:10.5pt;line-height:1.45;"
        static let sheet = "max-width:174mm;margin:0 auto;padding:0;"
        static let layout = "width:100%;border-collapse:collapse;margin:0 0 10mm 0;"
        static let sender = "vertical-align:top;width:50%;padding:0;"
        static let addressee = "vertical-align:top;width:50%;padding:22mm 0 0 12mm;"
        static let partyName = "font-weight:bold;font-size:11pt;"
        static let small = "color:#444444;font-size:9pt;"
        static let meta = "text-align:right;margin:0 0 6mm 0;color:#333333;"
        static let subject = "font-weight:bold;margin:0 0 5mm 0;"
        static let title = "font-size:15pt;margin:0 0 5mm 0;letter-spacing:0.02em;"
        static let paragraph = "margin:0 0 3.5mm 0;text-align:justify;"
        static let table = "width:100%;border-collapse:collapse;margin:4mm 0 4mm 0;font-size:9pt;"
        static let head = "border-bottom:1.5px solid #555555;background:#f1f1f1;padding:1.8mm 2mm;text-align:left;font-weight:bold;"
        static let headNumber = head + "text-align:right;"
        static let cell = "border-bottom:1px solid #cccccc;padding:1.6mm 2mm;text-align:left;"
        static let number = cell + "text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;"
        static let totals = "border-collapse:collapse;margin:0 0 6mm auto;min-width:45%;font-size:10pt;"
        static let totalLabel = "padding:1.2mm 3mm 1.2mm 0;text-align:left;"
        static let totalAmount = "padding:1.2mm 0 1.2mm 3mm;text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;"
        static let grandLabel = totalLabel + "border-top:1.5px solid #333333;font-weight:bold;"
        static let grandAmount = totalAmount + "border-top:1.5px solid #333333;font-weight:bold;"
        static let legal = "margin:0 0 5mm 0;padding:2mm 0 2mm 3.5mm;border-left:3px solid #888888;font-size:9pt;text-align:justify;"
        static let signature = "margin:8mm 0 0 0;font-weight:bold;"
        static let footer = "margin:10mm 0 0 0;padding-top:2mm;border-top:1px solid #cccccc;color:#666666;font-size:8pt;"
    }

    /// The HTML document: a standalone A4 letter.
    static func html(_ wording: Wording, language: ReminderLanguage) -> String {
        let label = labels(language)
        let paragraphs = { (list: [String]) in list.map { "<p style=\"\(Style.paragraph)\">\($0)</p>" }.joined(separator: "\n") }
        let legalText = legal(wording, language: language) { "<p class=\"legal\" style=\"\(Style.legal)\">\($0)</p>" }
        let penaltyHeads = "{{#has_penalties}}<th style=\"\(Style.headNumber)\">\(label.interest)</th><th style=\"\(Style.headNumber)\">\(label.indemnity)</th>{{/has_penalties}}"
        let penaltyCells = "{{#has_penalties}}<td style=\"\(Style.number)\">{{interest}}</td><td style=\"\(Style.number)\">{{indemnity}}</td>{{/has_penalties}}"
        return """
            <!DOCTYPE html>
            <html lang="\(language.rawValue)">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(wording.title) — {{creditor_name}}</title>
            <style>
            @page { size: A4; margin: 18mm 18mm 20mm 18mm; }
            html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
            thead { display: table-header-group; }
            tr { page-break-inside: avoid; break-inside: avoid; }
            @media screen { body { padding: 12mm 6mm !important; } }
            </style>
            </head>
            <body style="\(Style.body)">
            <div class="letter" style="\(Style.sheet)">
            <table role="presentation" style="\(Style.layout)"><tr>
            <td class="creditor" style="\(Style.sender)"><div style="\(Style.partyName)"><bdi>{{creditor_name}}</bdi></div>{{#creditor_address}}<div><bdi>{{.}}</bdi></div>{{/creditor_address}}{{#creditor_email}}<div style="\(Style.small)">{{creditor_email}}</div>{{/creditor_email}}</td>
            <td class="customer" style="\(Style.addressee)"><div style="\(Style.partyName)"><bdi>{{customer_name}}</bdi></div>{{#customer_address}}<div><bdi>{{.}}</bdi></div>{{/customer_address}}{{#customer_id}}<div style="\(Style.small)">\(label.customer) <bdi>{{customer_id}}</bdi></div>{{/customer_id}}</td>
            </tr></table>
            <p class="meta" style="\(Style.meta)">\(label.dated)<br>\(label.reference)</p>
            <p class="subject" style="\(Style.subject)">\(label.subjectLine) \(wording.title)</p>
            <h1 style="\(Style.title)">\(wording.title)</h1>
            \(paragraphs(wording.opening))
            <table class="statement" style="\(Style.table)" aria-label="\(label.statement)">
            <thead><tr><th style="\(Style.head)">\(label.invoice)</th><th style="\(Style.head)">\(label.issued)</th><th style="\(Style.head)">\(label.due)</th><th style="\(Style.headNumber)">\(label.amount)</th><th style="\(Style.headNumber)">\(label.balance)</th><th style="\(Style.headNumber)">\(label.daysLate)</th>\(penaltyHeads)</tr></thead>
            <tbody>
            {{#items}}<tr><td style="\(Style.cell)"><bdi>{{invoice_id}}</bdi></td><td style="\(Style.cell)">{{issue_date}}</td><td style="\(Style.cell)">{{due_date}}</td><td style="\(Style.number)">{{amount}}</td><td style="\(Style.number)">{{balance}}</td><td style="\(Style.number)">{{days_overdue}}</td>\(penaltyCells)</tr>
            {{/items}}</tbody>
            </table>
            <table class="totals" role="presentation" style="\(Style.totals)">
            <tr><td style="\(Style.totalLabel)">\(label.totalBalance)</td><td style="\(Style.totalAmount)">{{total_balance}}</td></tr>
            {{#has_penalties}}<tr><td style="\(Style.totalLabel)">\(label.totalInterest)</td><td style="\(Style.totalAmount)">{{total_interest}}</td></tr>
            <tr><td style="\(Style.totalLabel)">\(label.totalIndemnity)</td><td style="\(Style.totalAmount)">{{total_indemnity}}</td></tr>
            {{/has_penalties}}<tr><td style="\(Style.grandLabel)">\(label.totalDue)</td><td style="\(Style.grandAmount)">{{total_due}}</td></tr>
            </table>
            \(legalText)
            \(paragraphs(wording.closing))
            <p class="signature" style="\(Style.signature)"><bdi>{{creditor_name}}</bdi></p>
            <p class="footer" style="\(Style.footer)">\(label.reference) — <bdi>{{creditor_name}}</bdi>{{#creditor_email}} — {{creditor_email}}{{/creditor_email}}</p>
            </div>
            </body>
            </html>

            """
    }
}
