/// One valid row of an import file, typed by the file's kind.
public enum ImportRow: Sendable, Hashable {
    /// A row of a customers file.
    case customer(CustomerRow)
    /// A row of an invoices file.
    case invoice(InvoiceRow)
    /// A row of a payments file.
    case payment(PaymentRow)
    /// A row of a disputes file.
    case dispute(DisputeRow)

    /// The physical line of the file on which the row starts.
    public var line: Int {
        switch self {
        case .customer(let row): row.line
        case .invoice(let row): row.line
        case .payment(let row): row.line
        case .dispute(let row): row.line
        }
    }

    /// The row's id (customer_id, invoice_id, payment_id or dispute_id).
    public var id: String {
        switch self {
        case .customer(let row): row.customerID
        case .invoice(let row): row.invoiceID
        case .payment(let row): row.paymentID
        case .dispute(let row): row.disputeID
        }
    }
}

/// The language a customer's reminders are written in.
public enum CustomerLanguage: String, Sendable, Hashable, CaseIterable, Codable {
    /// French, the default.
    case fr
    /// English.
    case en
}

/// A customer, from a customers file.
public struct CustomerRow: Sendable, Hashable {
    /// The physical line of the file on which the row starts.
    public let line: Int
    /// The customer's id in the ERP (1 to 64 characters, no control character).
    public let customerID: String
    /// The customer's name, as written (may contain accents, quotes and delimiters).
    public let name: String
    /// The address reminders are emailed to; nil when empty (reminders then go by letter, SPEC §5.1).
    public let email: String?
    /// The reminders' language; `fr` when the column is absent or empty.
    public let language: CustomerLanguage
    /// Days between an invoice's date and its due date (0–365); nil when absent or empty.
    public let paymentTermsDays: Int?
    /// The credit limit, ≥ 0, in the tenant's currency; nil when absent or empty (no limit given).
    public let creditLimit: Money?
    /// The name of the dunning policy to use; nil when absent or empty (the tenant's `standard`).
    public let policy: String?
    /// True when the customer must not be reminded; false when the column is absent or empty.
    public let onHold: Bool

    /// Creates a customer row.
    public init(
        line: Int, customerID: String, name: String, email: String?, language: CustomerLanguage,
        paymentTermsDays: Int?, creditLimit: Money?, policy: String?, onHold: Bool
    ) {
        self.line = line
        self.customerID = customerID
        self.name = name
        self.email = email
        self.language = language
        self.paymentTermsDays = paymentTermsDays
        self.creditLimit = creditLimit
        self.policy = policy
        self.onHold = onHold
    }
}

/// Whether an invoices-file row is an invoice or a credit note, and what a credit note reduces.
public enum InvoiceKind: Sendable, Hashable {
    /// An invoice: the customer owes its amount.
    case invoice
    /// A credit note: its amount reduces the balance of the invoice it applies to.
    case creditNote(appliesTo: String)

    /// The value of the `kind` column: `invoice` or `credit_note`.
    public var name: String {
        switch self {
        case .invoice: "invoice"
        case .creditNote: "credit_note"
        }
    }

    /// The invoice a credit note reduces; nil for an invoice.
    public var appliesTo: String? {
        switch self {
        case .invoice: nil
        case .creditNote(let invoiceID): invoiceID
        }
    }
}

/// An invoice or credit note, from an invoices file.
public struct InvoiceRow: Sendable, Hashable {
    /// The physical line of the file on which the row starts.
    public let line: Int
    /// The invoice's (or credit note's) number.
    public let invoiceID: String
    /// The customer billed.
    public let customerID: String
    /// The date of the invoice.
    public let issueDate: CalendarDate
    /// The date payment is due; never before `issueDate`.
    public let dueDate: CalendarDate
    /// The amount, > 0 (a credit note's amount is positive too: it is subtracted from its invoice).
    public let amount: Money
    /// Invoice or credit note.
    public let kind: InvoiceKind

    /// Creates an invoice row.
    public init(
        line: Int, invoiceID: String, customerID: String, issueDate: CalendarDate, dueDate: CalendarDate,
        amount: Money, kind: InvoiceKind
    ) {
        self.line = line
        self.invoiceID = invoiceID
        self.customerID = customerID
        self.issueDate = issueDate
        self.dueDate = dueDate
        self.amount = amount
        self.kind = kind
    }
}

/// A payment received, from a payments file.
public struct PaymentRow: Sendable, Hashable {
    /// The physical line of the file on which the row starts.
    public let line: Int
    /// The payment's id.
    public let paymentID: String
    /// The customer who paid.
    public let customerID: String
    /// The date the money was received.
    public let receivedOn: CalendarDate
    /// The amount received, > 0.
    public let amount: Money
    /// The invoice it pays; nil for cash on account, not yet applied to an invoice.
    public let invoiceID: String?

    /// Creates a payment row.
    public init(
        line: Int, paymentID: String, customerID: String, receivedOn: CalendarDate, amount: Money,
        invoiceID: String?
    ) {
        self.line = line
        self.paymentID = paymentID
        self.customerID = customerID
        self.receivedOn = receivedOn
        self.amount = amount
        self.invoiceID = invoiceID
    }
}

/// A dispute opened on an invoice, from a disputes file.
public struct DisputeRow: Sendable, Hashable {
    /// The physical line of the file on which the row starts.
    public let line: Int
    /// The dispute's id.
    public let disputeID: String
    /// The disputed invoice.
    public let invoiceID: String
    /// Why the customer disputes it.
    public let reason: DisputeReason
    /// What the customer said, in their words (line breaks allowed).
    public let note: String?
    /// The date the dispute was opened.
    public let openedOn: CalendarDate
    /// The disputed amount in cents of the invoice's currency (> 0), which the file does not name:
    /// the importer pairs it with the invoice's currency; nil means the whole invoice balance.
    public let amountCents: Int64?

    /// Creates a dispute row.
    public init(
        line: Int, disputeID: String, invoiceID: String, reason: DisputeReason, openedOn: CalendarDate, amountCents: Int64?,
        note: String? = nil
    ) {
        self.line = line
        self.disputeID = disputeID
        self.invoiceID = invoiceID
        self.reason = reason
        self.note = note
        self.openedOn = openedOn
        self.amountCents = amountCents
    }
}
