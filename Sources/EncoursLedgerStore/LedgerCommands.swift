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
        do { promisedFor = try CalendarDate(commandLine: date, option: "--date") } catch { throw LedgerStoreError(error.message) }
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
