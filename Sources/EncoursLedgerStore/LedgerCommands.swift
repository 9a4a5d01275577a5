import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// A one-line refusal from a ledger command (unknown customer, bad amount, ...).
public struct LedgerStoreError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An `--amount` of a command: a positive decimal of at most ``Money/maximumRowCents``, in cents.
func commandAmount(_ text: String) throws -> Int64 {
    let cents: Int64
    do { cents = try Money.parseCents(text) } catch { throw LedgerStoreError("invalid --amount \"\(text.prefix(200))\": \(error.message)") }
    guard cents > 0 else { throw LedgerStoreError("invalid --amount \"\(text)\": must be more than zero") }
    guard cents <= Money.maximumRowCents else {
        throw LedgerStoreError("invalid --amount \"\(text)\": the most one row may hold is \(Money.decimalString(cents: Money.maximumRowCents))")
    }
    return cents
}

/// Entries of the audit trail written by commands (updates and deletes are audited by triggers).
enum Audit {
    /// Records a change made in the current tenant-scoped transaction, with its details as JSON.
    static func record<T: Encodable>(action: String, entity: String, id: String, details: T, on connection: PostgresConnection) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(details), as: UTF8.self)
        try connection.query("SELECT encours.audit($1, $2, $3, $4::jsonb)", [action, entity, id, json])
    }
}

/// Promises to pay.
public enum Promises {
    /// A recorded promise.
    public struct Promise: Sendable, Encodable {
        public var id: Int64
        public var customerID: String
        public var invoiceID: String?
        public var amount: String
        public var currency: String
        public var date: String
        enum CodingKeys: String, CodingKey {
            case id, amount, currency, date
            case customerID = "customer_id"
            case invoiceID = "invoice_id"
        }
    }

    /// Records that `customer` promised to pay `amount` by `date` (for one invoice, or all of theirs).
    public static func add(
        tenantID: Int64, customerID: String, amount: String, date: String, invoiceID: String?, tenantCurrency: String,
        on connection: PostgresConnection
    ) throws -> Promise {
        let promisedFor: CalendarDate
        do { promisedFor = try CalendarDate(parsing: date) } catch {
            throw LedgerStoreError("invalid --date \"\(date)\": expected YYYY-MM-DD or DD/MM/YYYY")
        }
        let cents = try commandAmount(amount)
        return try TenantScope.transaction(tenantID: tenantID, actor: "encours promises add", on: connection) { connection in
            try TenantScope.lockLedger(on: connection)
            guard try connection.query("SELECT 1 FROM encours.customers WHERE customer_id = $1", [customerID]).count == 1 else {
                throw LedgerStoreError("unknown customer \"\(customerID)\"")
            }
            var currency = tenantCurrency
            if let invoiceID {
                guard let invoice = try connection.query(
                    "SELECT customer_id, currency FROM encours.invoices WHERE invoice_id = $1 AND kind = 'invoice'", [invoiceID]
                ).first else {
                    throw LedgerStoreError("unknown invoice \"\(invoiceID)\"")
                }
                let owner: String = try invoice.decode("customer_id")
                guard owner == customerID else {
                    throw LedgerStoreError("invoice \(invoiceID) belongs to customer \(owner), not \(customerID)")
                }
                currency = try invoice.decode("currency")
            }
            let row = try connection.query(
                """
                INSERT INTO encours.promises (tenant_id, customer_id, invoice_id, amount_cents, currency, promised_for)
                VALUES (encours.current_tenant_id(), $1, $2, $3, $4, $5::date) RETURNING promise_id
                """, [customerID, invoiceID, cents, currency, promisedFor.isoString])
            let promise = Promise(
                id: try row.decode(Int64.self, row: 0, column: 0), customerID: customerID, invoiceID: invoiceID,
                amount: Money.decimalString(cents: cents), currency: currency, date: promisedFor.isoString)
            try Audit.record(action: "insert", entity: "promise", id: String(promise.id), details: promise, on: connection)
            return promise
        }
    }
}

/// Disputes: opening and listing (the escalation lifecycle is its own piece).
public enum Disputes {
    /// A dispute as `disputes list` shows it.
    public struct Dispute: Sendable, Encodable {
        public var id: String
        public var invoiceID: String
        public var status: String
        public var tier: Int
        public var deadline: String?
        public var breached: Bool
        public var outcome: String?
        public var reason: String
        public var openedOn: String
        public var amount: String?
        enum CodingKeys: String, CodingKey {
            case id, status, tier, deadline, breached, outcome, reason, amount
            case invoiceID = "invoice_id"
            case openedOn = "opened_on"
        }

        /// Every field, `null` included: monitoring scripts rely on the keys being there.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(invoiceID, forKey: .invoiceID)
            try container.encode(status, forKey: .status)
            try container.encode(tier, forKey: .tier)
            try container.encode(deadline, forKey: .deadline)
            try container.encode(breached, forKey: .breached)
            try container.encode(outcome, forKey: .outcome)
            try container.encode(reason, forKey: .reason)
            try container.encode(openedOn, forKey: .openedOn)
            try container.encode(amount, forKey: .amount)
        }
    }

    /// The rule for a new dispute's deadline in the current tenant: its opening date plus tier 1's
    /// SLA in the tenant's business days (its `holidays` and `escalation_policy` settings).
    static func firstDeadlineRule(on connection: PostgresConnection) throws -> @Sendable (CalendarDate) throws -> CalendarDate {
        let row = try connection.query(
            "SELECT settings->>'holidays', (settings->'escalation_policy')::text FROM encours.tenants WHERE id = encours.current_tenant_id()")
        let calendar = BusinessCalendar(holidays: BusinessCalendar.Holidays(rawValue: row.first?[0] ?? "fr") ?? .fr)
        let slaDays = try EscalationPolicy(json: row.first?[1]).tiers[0].slaDays
        return { openedOn in try calendar.adding(businessDays: slaDays, to: openedOn) }
    }

    static let columns = "dispute_id, invoice_id, status, tier, deadline, breached, outcome, reason, opened_on, amount_cents"

    static func decode(_ row: PostgresRow) throws -> Dispute {
        Dispute(
            id: try row.decode("dispute_id"), invoiceID: try row.decode("invoice_id"), status: try row.decode("status"),
            tier: try row.decode("tier"), deadline: try row.decode("deadline"), breached: try row.decode("breached"),
            outcome: try row.decode("outcome"), reason: try row.decode("reason"), openedOn: try row.decode("opened_on"),
            amount: (try row.decode("amount_cents", as: Int64?.self)).map(Money.decimalString(cents:)))
    }

    /// Opens a dispute on an invoice today (in the tenant's time zone); `amount` defaults to the balance.
    public static func open(
        tenantID: Int64, invoiceID: String, reason: String, amount: String?, on connection: PostgresConnection
    ) throws -> Dispute {
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw LedgerStoreError("--reason must not be empty") }
        let cents = try amount.map(commandAmount)
        return try TenantScope.transaction(tenantID: tenantID, actor: "encours disputes open", on: connection) { connection in
            try TenantScope.lockLedger(on: connection)
            guard let balance = try connection.query(
                "SELECT balance_cents FROM encours.invoice_balances WHERE invoice_id = $1", [invoiceID]
            ).first else {
                throw LedgerStoreError("unknown invoice \"\(invoiceID)\"")
            }
            let balanceCents: Int64 = try balance.decode("balance_cents")
            if let cents, cents > balanceCents {
                throw LedgerStoreError("invalid --amount \(Money.decimalString(cents: cents)): more than the invoice balance \(Money.decimalString(cents: balanceCents))")
            }
            let today = try CalendarDate(parsing: try connection.query(
                "SELECT encours.current_tenant_today()::text"
            ).decode(String.self, row: 0, column: 0))
            let deadline = try firstDeadlineRule(on: connection)(today)
            let row = try connection.query(
                """
                INSERT INTO encours.disputes (tenant_id, dispute_id, invoice_id, reason, opened_on, amount_cents, deadline)
                VALUES (encours.current_tenant_id(), 'DSP-' || replace($4, '-', '') || '-' || substr(md5(random()::text), 1, 6),
                        $1, $2, $4::date, $3, $5::date)
                RETURNING \(columns)
                """, [invoiceID, reason, cents, today.isoString, deadline.isoString])
            guard let inserted = row.first else { throw LedgerStoreError("the dispute was not recorded") }
            let dispute = try decode(inserted)
            try Audit.record(action: "insert", entity: "dispute", id: dispute.id, details: dispute, on: connection)
            return dispute
        }
    }

    /// The tenant's disputes, optionally of one status, oldest first.
    public static func list(tenantID: Int64, status: String?, on connection: PostgresConnection) throws -> [Dispute] {
        if let status, !["open", "escalated", "resolved"].contains(status) {
            throw LedgerStoreError("unknown --status \"\(status)\": expected open, escalated or resolved")
        }
        return try TenantScope.transaction(tenantID: tenantID, on: connection) { connection in
            try connection.query(
                """
                SELECT \(columns) FROM encours.disputes
                WHERE $1::text IS NULL OR status = $1 ORDER BY opened_on, dispute_id
                """, [status]
            ).rows.map(decode)
        }
    }
}
