/// The four kinds of CSV file a tenant imports (SPEC §4), with their required and optional columns.
public enum ImportKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `customers`: customer_id, name; optionally email, language, payment_terms_days, credit_limit, policy, on_hold.
    case customers
    /// `invoices`: invoice_id, customer_id, issue_date, due_date, amount; optionally currency, kind, applies_to.
    case invoices
    /// `payments`: payment_id, customer_id, received_on, amount; optionally invoice_id, currency.
    case payments
    /// `disputes`: dispute_id, invoice_id, reason (a ``DisputeReason`` code), opened_on; optionally amount, note.
    case disputes

    /// The columns every file of this kind must have, in the SPEC's order.
    public var requiredColumns: [ImportColumn] {
        switch self {
        case .customers: [.customerID, .name]
        case .invoices: [.invoiceID, .customerID, .issueDate, .dueDate, .amount]
        case .payments: [.paymentID, .customerID, .receivedOn, .amount]
        case .disputes: [.disputeID, .invoiceID, .reason, .openedOn]
        }
    }

    /// The columns a file of this kind may have; any other column is ignored.
    public var optionalColumns: [ImportColumn] {
        switch self {
        case .customers: [.email, .language, .paymentTermsDays, .creditLimit, .policy, .onHold]
        case .invoices: [.currency, .kind, .appliesTo]
        case .payments: [.invoiceID, .currency]
        case .disputes: [.amount, .note]
        }
    }

    /// The column holding each row's id, which must be unique within a file.
    public var idColumn: ImportColumn {
        switch self {
        case .customers: .customerID
        case .invoices: .invoiceID
        case .payments: .paymentID
        case .disputes: .disputeID
        }
    }

    /// The columns this kind understands: required ones first.
    public var knownColumns: [ImportColumn] { requiredColumns + optionalColumns }

    /// The kind's name as the CLI writes it: `customers`, `invoices`, `payments`, `disputes`.
    public var description: String { rawValue }
}

/// A column that an import file may have, named as in the header row (`invoice_id`, `due_date`…).
public enum ImportColumn: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `customer_id`
    case customerID
    /// `name`
    case name
    /// `email`
    case email
    /// `language`
    case language
    /// `payment_terms_days`
    case paymentTermsDays
    /// `credit_limit`
    case creditLimit
    /// `policy`
    case policy
    /// `on_hold`
    case onHold
    /// `invoice_id`
    case invoiceID
    /// `issue_date`
    case issueDate
    /// `due_date`
    case dueDate
    /// `amount`
    case amount
    /// `currency`
    case currency
    /// `kind`
    case kind
    /// `applies_to`
    case appliesTo
    /// `payment_id`
    case paymentID
    /// `received_on`
    case receivedOn
    /// `dispute_id`
    case disputeID
    /// `reason`
    case reason
    /// `opened_on`
    case openedOn
    /// `note` (a dispute's free-text details)
    case note

    /// The name in the header row, in lowercase with underscores.
    public var name: String {
        switch self {
        case .customerID: "customer_id"
        case .name: "name"
        case .email: "email"
        case .language: "language"
        case .paymentTermsDays: "payment_terms_days"
        case .creditLimit: "credit_limit"
        case .policy: "policy"
        case .onHold: "on_hold"
        case .invoiceID: "invoice_id"
        case .issueDate: "issue_date"
        case .dueDate: "due_date"
        case .amount: "amount"
        case .currency: "currency"
        case .kind: "kind"
        case .appliesTo: "applies_to"
        case .paymentID: "payment_id"
        case .receivedOn: "received_on"
        case .disputeID: "dispute_id"
        case .reason: "reason"
        case .openedOn: "opened_on"
        case .note: "note"
        }
    }

    /// The column whose header name is `name` (already trimmed and lowercased), if any.
    public init?(name: String) {
        guard let column = ImportColumn.allCases.first(where: { $0.name == name }) else { return nil }
        self = column
    }

    /// The header name.
    public var description: String { name }
}
