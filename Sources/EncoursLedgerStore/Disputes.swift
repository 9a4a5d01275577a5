import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// Disputes (SPEC §7): opening, resolving, listing and showing them, each change in the tenant's
/// scope under its ledger lock, with its event in the dispute's history.
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
        public var note: String?
        public var openedOn: String
        public var amount: String?
        public var resolvedOn: String?
        public var creditNoteID: String?
        enum CodingKeys: String, CodingKey {
            case id, status, tier, deadline, breached, outcome, reason, note, amount
            case invoiceID = "invoice_id"
            case openedOn = "opened_on"
            case resolvedOn = "resolved_on"
            case creditNoteID = "credit_note_id"
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
            try container.encode(note, forKey: .note)
            try container.encode(openedOn, forKey: .openedOn)
            try container.encode(amount, forKey: .amount)
            try container.encode(resolvedOn, forKey: .resolvedOn)
            try container.encode(creditNoteID, forKey: .creditNoteID)
        }
    }

    /// One transition in a dispute's history.
    public struct Event: Sendable, Encodable {
        public var at: String
        public var actor: String
        public var kind: String
        public var tier: Int
        public var tierName: String?
        public var deadline: String?
        public var outcome: String?
        public var amount: String?
        public var escalationID: Int64?
        enum CodingKeys: String, CodingKey {
            case at, actor, kind, tier, deadline, outcome, amount
            case tierName = "tier_name"
            case escalationID = "escalation_id"
        }
    }

    /// A dispute with its invoice and its history, for `disputes show`.
    public struct Detail: Sendable, Encodable {
        public var dispute: Dispute
        public var tierName: String
        public var customerID: String
        public var customerName: String
        public var currency: String
        public var invoiceAmount: String
        public var invoiceBalance: String
        public var dueDate: String
        /// The invoice's dunning level (0: never reminded), kept while the dispute holds it.
        public var dunningLevel: Int
        public var events: [Event]
        enum CodingKeys: String, CodingKey {
            case dispute, currency, events
            case tierName = "tier_name"
            case customerID = "customer_id"
            case customerName = "customer_name"
            case invoiceAmount = "invoice_amount"
            case invoiceBalance = "invoice_balance"
            case dueDate = "due_date"
            case dunningLevel = "dunning_level"
        }
    }

    /// What `disputes resolve` did.
    public struct Resolution: Sendable, Encodable {
        public var dispute: Dispute
        /// The credit note created (outcome `credit_note`).
        public var creditNoteID: String?
        public var creditedAmount: String?
        public var invoiceBalance: String
        public var currency: String
        /// The customer whose risk the change touches.
        public var customerID: String
        enum CodingKeys: String, CodingKey {
            case dispute, currency
            case creditNoteID = "credit_note_id"
            case creditedAmount = "credited_amount"
            case invoiceBalance = "invoice_balance"
            case customerID = "customer_id"
        }
    }

    /// The current tenant's escalation rule: its `escalation_policy` and its business days
    /// (the `holidays` setting).
    public static func escalationRule(on connection: PostgresConnection) throws -> DisputeEscalation {
        let row = try connection.query(
            "SELECT settings->>'holidays', (settings->'escalation_policy')::text FROM encours.tenants WHERE id = encours.current_tenant_id()")
        let holidays = row.first.flatMap { $0[0] } ?? BusinessCalendar.Holidays.fr.rawValue
        guard let calendar = BusinessCalendar.Holidays(rawValue: holidays).map(BusinessCalendar.init(holidays:)) else {
            throw LedgerStoreError("tenant setting holidays \"\(holidays.prefix(40))\": expected fr, fr-alsace-moselle or none")
        }
        do {
            return DisputeEscalation(policy: try EscalationPolicy(json: row.first.flatMap { $0[1] }), calendar: calendar)
        } catch {
            throw LedgerStoreError(error.message)
        }
    }

    static let columns = """
        dispute_id, invoice_id, status, tier, deadline, breached, outcome, reason, note, opened_on, amount_cents, resolved_on, credit_note_id
        """

    static func decode(_ row: PostgresRow) throws -> Dispute {
        Dispute(
            id: try row.decode("dispute_id"), invoiceID: try row.decode("invoice_id"), status: try row.decode("status"),
            tier: try row.decode("tier"), deadline: try row.decode("deadline"), breached: try row.decode("breached"),
            outcome: try row.decode("outcome"), reason: try row.decode("reason"), note: try row.decode("note"),
            openedOn: try row.decode("opened_on"), amount: (try row.decode("amount_cents", as: Int64?.self)).map(Money.decimalString(cents:)),
            resolvedOn: try row.decode("resolved_on"), creditNoteID: try row.decode("credit_note_id"))
    }

    /// Reads a reason code (or its French name), or throws the one-line refusal.
    static func reasonCode(_ text: String) throws -> DisputeReason {
        guard let reason = DisputeReason(code: text) else { throw LedgerStoreError("invalid --reason: " + DisputeReason.unknownMessage(text)) }
        return reason
    }

    /// Today in the current tenant's time zone.
    static func tenantToday(on connection: PostgresConnection) throws -> CalendarDate {
        try CalendarDate(parsing: try connection.query("SELECT encours.current_tenant_today()::text").decode(String.self, row: 0, column: 0))
    }

    /// Opens a dispute on an invoice today (in the tenant's time zone) at tier 1; `amount`
    /// defaults to the whole balance. `afterChange` runs in the same transaction with the
    /// invoice's customer (the admin layer enqueues its risk recalculation there).
    public static func open(
        tenantID: Int64, invoiceID: String, reason: String, note: String? = nil, amount: String?,
        afterChange: ((PostgresConnection, String) throws -> Void)? = nil, on connection: PostgresConnection
    ) throws -> Dispute {
        let code = try reasonCode(reason)
        let cents = try amount.map(commandAmount)
        let note = note.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        if let note, note.unicodeScalars.count > DisputeNote.maximumLength {
            throw LedgerStoreError("invalid --note: longer than \(DisputeNote.maximumLength) characters")
        }
        return try TenantScope.transaction(tenantID: tenantID, actor: "encours disputes open", on: connection) { connection in
            try TenantScope.lockLedger(on: connection)
            guard let invoice = try connection.query(
                """
                SELECT b.balance_cents, i.customer_id,
                       (SELECT d.dispute_id FROM encours.disputes d WHERE d.invoice_id = i.invoice_id AND d.status <> 'resolved' LIMIT 1)
                FROM encours.invoices i JOIN encours.invoice_balances b ON b.invoice_id = i.invoice_id
                WHERE i.invoice_id = $1 AND i.kind = 'invoice'
                """, [invoiceID]
            ).first else {
                throw LedgerStoreError("unknown invoice \"\(invoiceID.prefix(64))\"")
            }
            let balanceCents: Int64 = try invoice.decode(0)
            if let open: String = try invoice.decode(2) {
                throw LedgerStoreError("invoice \(invoiceID) already has an unresolved dispute, \(open): resolve it first")
            }
            guard balanceCents > 0 else { throw LedgerStoreError("invoice \(invoiceID) is settled (balance 0.00): nothing to dispute") }
            if let cents, cents > balanceCents {
                throw LedgerStoreError(
                    "invalid --amount \(Money.decimalString(cents: cents)): more than the invoice balance \(Money.decimalString(cents: balanceCents))")
            }
            let today = try tenantToday(on: connection)
            let rule = try escalationRule(on: connection)
            let deadline = try rule.firstDeadline(openedOn: today)
            let row = try connection.query(
                """
                INSERT INTO encours.disputes (tenant_id, dispute_id, invoice_id, reason, note, opened_on, amount_cents, deadline)
                VALUES (encours.current_tenant_id(), 'DSP-' || replace($4, '-', '') || '-' || substr(md5(random()::text), 1, 6),
                        $1, $2, $6, $4::date, $3, $5::date)
                RETURNING \(columns)
                """, [invoiceID, code.rawValue, cents, today.isoString, deadline.isoString, note])
            guard let inserted = row.first else { throw LedgerStoreError("the dispute was not recorded") }
            let dispute = try decode(inserted)
            try connection.query(
                """
                INSERT INTO encours.dispute_events (tenant_id, dispute_id, kind, tier, tier_name, deadline, amount_cents)
                VALUES (encours.current_tenant_id(), $1, 'opened', 1, $2, $3::date, $4)
                """, [dispute.id, rule.tier(1).name, deadline.isoString, cents])
            try Audit.record(action: "insert", entity: "dispute", id: dispute.id, details: dispute, on: connection)
            try afterChange?(connection, try invoice.decode(1))
            return dispute
        }
    }

    /// Resolves an unresolved dispute today with `outcome`; a `credit_note` outcome creates a
    /// credit note of `amount` (default: the disputed amount, or the whole balance) on the invoice.
    ///
    /// `upheld` and `withdrawn` release the invoice into dunning at the level it had (the level
    /// is never touched while the dispute holds it); a credit note reduces its balance, and an
    /// invoice left with nothing to pay is no longer open.
    public static func resolve(
        tenantID: Int64, disputeID: String, outcome: String, amount: String?,
        afterChange: ((PostgresConnection, String) throws -> Void)? = nil, on connection: PostgresConnection
    ) throws -> Resolution {
        guard let ending = DisputeOutcome(rawValue: outcome) else {
            throw LedgerStoreError("unknown --outcome \"\(outcome.prefix(40))\": expected credit_note, upheld or withdrawn")
        }
        let requested = try amount.map(commandAmount)
        return try TenantScope.transaction(tenantID: tenantID, actor: "encours disputes resolve", on: connection) { connection in
            try TenantScope.lockLedger(on: connection)
            guard let found = try connection.query(
                """
                SELECT d.status, d.outcome, d.resolved_on::text, d.amount_cents, d.tier, d.invoice_id, i.customer_id, i.currency, b.balance_cents
                FROM encours.disputes d
                JOIN encours.invoices i ON i.invoice_id = d.invoice_id
                JOIN encours.invoice_balances b ON b.invoice_id = d.invoice_id
                WHERE d.dispute_id = $1
                FOR UPDATE OF d
                """, [disputeID]
            ).first else {
                throw LedgerStoreError("unknown dispute \"\(disputeID.prefix(64))\"")
            }
            let status: String = try found.decode(0)
            guard status != "resolved" else {
                let was: String = try found.decode(1)
                let on: String = try found.decode(2)
                throw LedgerStoreError("dispute \(disputeID) was already resolved on \(on) (\(was))")
            }
            let invoiceID: String = try found.decode(5)
            let customerID: String = try found.decode(6)
            let currency: String = try found.decode(7)
            let balanceCents: Int64 = try found.decode(8)
            let disputed: Int64? = try found.decode(3)
            let credit: Int64?
            do {
                credit = try ending.creditCents(requested: requested, disputedCents: disputed, balanceCents: balanceCents)
            } catch let error as LedgerError {
                throw LedgerStoreError(error.message)
            }
            let today = try tenantToday(on: connection)
            var creditNoteID: String?
            if let credit {
                let id = creditNoteIdentifier(disputeID: disputeID)
                guard try connection.query("SELECT FROM encours.invoices WHERE invoice_id = $1", [id]).count == 0 else {
                    throw LedgerStoreError("cannot create credit note \(id) for dispute \(disputeID): an invoice with that id exists")
                }
                try connection.query(
                    """
                    INSERT INTO encours.invoices (tenant_id, invoice_id, customer_id, kind, applies_to, issue_date, due_date, amount_cents, currency)
                    VALUES (encours.current_tenant_id(), $1, $2, 'credit_note', $3, $4::date, $4::date, $5, $6)
                    """, [id, customerID, invoiceID, today.isoString, credit, currency])
                creditNoteID = id
            }
            let row = try connection.query(
                """
                UPDATE encours.disputes
                SET status = 'resolved', outcome = $2, resolved_on = $3::date, credit_note_id = $4, updated_at = now()
                WHERE dispute_id = $1
                RETURNING \(columns)
                """, [disputeID, ending.rawValue, today.isoString, creditNoteID])
            guard let updated = row.first else { throw LedgerStoreError("the dispute was not resolved") }
            let dispute = try decode(updated)
            try connection.query(
                """
                INSERT INTO encours.dispute_events (tenant_id, dispute_id, kind, tier, outcome, amount_cents)
                VALUES (encours.current_tenant_id(), $1, 'resolved', $2, $3, $4)
                """, [disputeID, dispute.tier, ending.rawValue, credit])
            try Audit.record(action: "resolve", entity: "dispute", id: disputeID, details: dispute, on: connection)
            try afterChange?(connection, customerID)
            return Resolution(
                dispute: dispute, creditNoteID: creditNoteID, creditedAmount: credit.map(Money.decimalString(cents:)),
                invoiceBalance: Money.decimalString(cents: balanceCents - (credit ?? 0)), currency: currency, customerID: customerID)
        }
    }

    /// The id of the credit note that resolves `disputeID`: `CN-` and the dispute's id (shortened
    /// with a hash of it when that would pass the 64 characters an id may have).
    static func creditNoteIdentifier(disputeID: String) -> String {
        let plain = "CN-" + disputeID
        guard plain.unicodeScalars.count > 64 else { return plain }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in disputeID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "CN-" + String(disputeID.unicodeScalars.prefix(44).map(Character.init)) + "-" + String(hash, radix: 16)
    }

    /// The tenant's disputes, optionally of one status, oldest first.
    public static func list(tenantID: Int64, status: String?, on connection: PostgresConnection) throws -> [Dispute] {
        if let status, !["open", "escalated", "resolved"].contains(status) {
            throw LedgerStoreError("unknown --status \"\(status.prefix(40))\": expected open, escalated or resolved")
        }
        return try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            try connection.query(
                """
                SELECT \(columns) FROM encours.disputes
                WHERE $1::text IS NULL OR status = $1 ORDER BY opened_on, dispute_id
                """, [status]
            ).rows.map(decode)
        }
    }

    /// One dispute with its invoice and every event of its history, oldest first.
    public static func show(tenantID: Int64, disputeID: String, on connection: PostgresConnection) throws -> Detail {
        try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            guard let row = try connection.query(
                """
                SELECT d.*, i.customer_id, c.name, i.currency, i.amount_cents AS invoice_cents, b.balance_cents, i.due_date::text,
                       coalesce(l.level, 0) AS level
                FROM encours.disputes d
                JOIN encours.invoices i ON i.invoice_id = d.invoice_id
                JOIN encours.customers c ON c.customer_id = i.customer_id
                JOIN encours.invoice_balances b ON b.invoice_id = d.invoice_id
                LEFT JOIN encours.invoice_dunning l ON l.invoice_id = d.invoice_id
                WHERE d.dispute_id = $1
                """, [disputeID]
            ).first else {
                throw LedgerStoreError("unknown dispute \"\(disputeID.prefix(64))\"")
            }
            let dispute = try decode(row)
            let events = try connection.query(
                """
                SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), actor, kind, tier, tier_name, deadline::text, outcome,
                       amount_cents, escalation_id
                FROM encours.dispute_events WHERE dispute_id = $1 ORDER BY event_id
                """, [disputeID]
            ).rows.map { event in
                Event(
                    at: try event.decode(0), actor: try event.decode(1), kind: try event.decode(2), tier: try event.decode(3),
                    tierName: try event.decode(4), deadline: try event.decode(5), outcome: try event.decode(6),
                    amount: (try event.decode(7, as: Int64?.self)).map(Money.decimalString(cents:)), escalationID: try event.decode(8))
            }
            return Detail(
                dispute: dispute, tierName: try escalationRule(on: connection).tier(dispute.tier).name,
                customerID: try row.decode("customer_id"), customerName: try row.decode("name"), currency: try row.decode("currency"),
                invoiceAmount: Money.decimalString(cents: try row.decode("invoice_cents")),
                invoiceBalance: Money.decimalString(cents: try row.decode("balance_cents")), dueDate: try row.decode("due_date"),
                dunningLevel: try row.decode("level"), events: events)
        }
    }
}
