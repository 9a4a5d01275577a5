import EncoursLedger
import Foundation

/// A realistic receivables ledger for the demo: a French SME's customers, a season of invoices,
/// their payments (prompt, late, partial or missing, by customer habit), disputes and promises.
///
/// Deterministic for a seed and a date, so two demos on the same day tell the same story. Pure:
/// it only produces the CSV files the import reads and the promises to add.
public struct DemoLedger: Sendable {
    /// A promise to pay, added with `promises add`.
    public struct Promise: Sendable {
        public var customerID: String
        public var amount: String
        public var date: String
    }

    public let customersCSV: String
    public let invoicesCSV: String
    public let paymentsCSV: String
    public let disputesCSV: String
    public let promises: [Promise]
    public let customerCount: Int
    public let invoiceCount: Int

    /// How a customer pays: most on time, some late, a few hardly at all.
    enum Habit: CaseIterable {
        case prompt, late, veryLate, disputing
    }

    /// Builds the ledger of `customers` customers with invoices issued over the 240 days up to `today`.
    public init(customers: Int, today: CalendarDate, seed: UInt64 = 2026) throws {
        var random = SplitMix(seed: seed)
        let trades = [
            "Boulangerie", "Menuiserie", "Garage", "Transports", "Imprimerie", "Pharmacie", "Cabinet", "Hôtel", "Restaurant",
            "Librairie", "Fromagerie", "Plomberie", "Électricité", "Jardins", "Atelier", "Brasserie", "Clinique vétérinaire",
            "Agence", "Domaine", "Ferronnerie", "Traiteur", "Boucherie", "Opticien", "Couverture", "Laboratoire",
        ]
        let names = [
            "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent",
            "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André",
            "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc",
            "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont",
        ]
        let forms = [" SARL", " SAS", " & Fils", " et Associés", "", " EURL"]
        let reasons = ["pricing", "quality", "quantity", "not_received", "duplicate_billing", "other"]
        let notes = [
            "Palettes abîmées à la livraison", "Prix différent du devis", "Quantité livrée inférieure à la commande",
            "Facture reçue en double", "Marchandise jamais reçue", "Remise commerciale non appliquée",
        ]

        var customerLines = ["customer_id,name,email,language,payment_terms_days,credit_limit"]
        var invoiceLines = ["invoice_id,customer_id,issue_date,due_date,amount"]
        var paymentLines = ["payment_id,customer_id,invoice_id,received_on,amount"]
        var disputeLines = ["dispute_id,invoice_id,reason,opened_on,note"]
        var promises: [Promise] = []
        var invoiceNumber = 0
        var paymentNumber = 0
        var disputeNumber = 0
        let firstDay = today.daysSinceEpoch - 240

        for index in 1...customers {
            let customerID = String(format: "C%04d", index)
            let trade = trades[random.below(trades.count)]
            let name = names[random.below(names.count)]
            let form = forms[random.below(forms.count)]
            let company = "\(trade) \(name)\(form)"
            let domain = Self.slug(trade + "-" + name)
            let english = random.below(10) == 0
            let terms = [30, 30, 30, 45, 45, 60][random.below(6)]
            let limit = 5_000 + random.below(46) * 1_000
            let habitRoll = random.below(100)
            let habit: Habit = habitRoll < 60 ? .prompt : habitRoll < 85 ? .late : habitRoll < 95 ? .veryLate : .disputing
            customerLines.append(
                "\(customerID),\(Self.quoted(company)),compta@\(domain).example,\(english ? "en" : "fr"),\(terms),\(limit).00")

            var openInvoices: [(id: String, balance: Int, due: Int)] = []
            let invoices = 4 + random.below(15)
            for _ in 0..<invoices {
                invoiceNumber += 1
                let invoiceID = String(format: "F2026-%05d", invoiceNumber)
                let issued = firstDay + random.below(236)
                let due = issued + terms
                // Most invoices a few hundred euros, some a few thousand, a handful over ten thousand.
                let size = random.below(100)
                let cents = (size < 70 ? 150 + random.below(1_850) : size < 95 ? 2_000 + random.below(6_000) : 8_000 + random.below(17_000))
                    * 100 + random.below(100)
                invoiceLines.append("\(invoiceID),\(customerID),\(try CalendarDate(daysSinceEpoch: issued).isoString),\(try CalendarDate(daysSinceEpoch: due).isoString),\(Money.decimalString(cents: Int64(cents)))")
                let delay: Int?
                switch habit {
                case .prompt: delay = random.below(100) < 98 ? random.below(12) - 5 : nil
                case .late: delay = random.below(100) < 94 ? 10 + random.below(40) : nil
                case .veryLate: delay = random.below(100) < 70 ? 30 + random.below(70) : nil
                case .disputing: delay = random.below(100) < 85 ? random.below(30) : nil
                }
                var balance = cents
                if let delay, due + delay < today.daysSinceEpoch {
                    paymentNumber += 1
                    // One payment in eight is partial: half now, the rest still due.
                    let paid = random.below(8) == 0 ? cents / 2 : cents
                    balance -= paid
                    paymentLines.append(
                        "\(String(format: "P%06d", paymentNumber)),\(customerID),\(invoiceID),\(try CalendarDate(daysSinceEpoch: due + delay).isoString),\(Money.decimalString(cents: Int64(paid)))")
                }
                if balance > 0 { openInvoices.append((invoiceID, balance, due)) }
            }
            // Disputes on open invoices: often for the disputing customers, now and then for others.
            for invoice in openInvoices where (habit == .disputing && random.below(3) == 0) || random.below(60) == 0 {
                disputeNumber += 1
                let opened = max(invoice.due - 20, today.daysSinceEpoch - 3 - random.below(40))
                guard opened <= today.daysSinceEpoch else { continue }
                let reason = random.below(reasons.count)
                disputeLines.append(
                    "\(String(format: "D%04d", disputeNumber)),\(invoice.id),\(reasons[reason]),\(try CalendarDate(daysSinceEpoch: opened).isoString),\(Self.quoted(notes[reason]))")
            }
            // Late payers with something overdue sometimes promise to pay within two weeks.
            let overdue = openInvoices.filter { $0.due < today.daysSinceEpoch }
            if habit == .late, let oldest = overdue.first, random.below(4) == 0 {
                promises.append(
                    Promise(
                        customerID: customerID, amount: Money.decimalString(cents: Int64(oldest.balance)),
                        date: try CalendarDate(daysSinceEpoch: today.daysSinceEpoch + 3 + random.below(12)).isoString))
            }
        }
        customersCSV = customerLines.joined(separator: "\n") + "\n"
        invoicesCSV = invoiceLines.joined(separator: "\n") + "\n"
        paymentsCSV = paymentLines.joined(separator: "\n") + "\n"
        disputesCSV = disputeLines.joined(separator: "\n") + "\n"
        self.promises = promises
        customerCount = customers
        invoiceCount = invoiceNumber
    }

    /// A CSV field in double quotes, inner quotes doubled.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Lower-case ASCII letters and hyphens, for example addresses.
    static func slug(_ text: String) -> String {
        let folded = text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
        return String(folded.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "-" })
    }
}

/// SplitMix64: a small, fast, seedable generator (the demo's data need not be cryptographic,
/// only the same for the same seed).
struct SplitMix {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound.
    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }
}
