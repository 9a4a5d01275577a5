import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// A reminder as `reminders list` and `dunning run --dry-run` show it (amounts as decimal strings).
public struct ReminderView: Sendable, Encodable, Hashable {
    /// One invoice the reminder lists.
    public struct Item: Sendable, Encodable, Hashable {
        public var invoiceID: String
        public var level: Int
        public var previousLevel: Int
        public var issueDate: String
        public var dueDate: String
        public var amount: String
        public var balance: String
        public var daysOverdue: Int
        public var interest: String
        public var indemnity: String
        enum CodingKeys: String, CodingKey {
            case level, amount, balance, interest, indemnity
            case invoiceID = "invoice_id"
            case previousLevel = "previous_level"
            case issueDate = "issue_date"
            case dueDate = "due_date"
            case daysOverdue = "days_overdue"
        }
    }

    /// Nil for a dry run's reminders (nothing was recorded).
    public var id: Int64?
    public var runID: Int64?
    public var customerID: String
    public var currency: String
    public var level: Int
    public var template: String
    public var channel: String
    public var language: String
    public var recipient: String?
    public var status: String
    public var failureReason: String?
    public var sentAt: String?
    public var asOf: String
    public var totalBalance: String
    public var interest: String
    public var indemnity: String
    public var items: [Item]

    enum CodingKeys: String, CodingKey {
        case id, currency, level, template, channel, language, recipient, status, interest, indemnity, items
        case runID = "run_id"
        case customerID = "customer_id"
        case failureReason = "failure_reason"
        case sentAt = "sent_at"
        case asOf = "as_of"
        case totalBalance = "total_balance"
    }

    /// Every field, `null` included: scripts rely on the keys being there.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(runID, forKey: .runID)
        try container.encode(customerID, forKey: .customerID)
        try container.encode(currency, forKey: .currency)
        try container.encode(level, forKey: .level)
        try container.encode(template, forKey: .template)
        try container.encode(channel, forKey: .channel)
        try container.encode(language, forKey: .language)
        try container.encode(recipient, forKey: .recipient)
        try container.encode(status, forKey: .status)
        try container.encode(failureReason, forKey: .failureReason)
        try container.encode(sentAt, forKey: .sentAt)
        try container.encode(asOf, forKey: .asOf)
        try container.encode(totalBalance, forKey: .totalBalance)
        try container.encode(interest, forKey: .interest)
        try container.encode(indemnity, forKey: .indemnity)
        try container.encode(items, forKey: .items)
    }

    /// The most reminders `reminders list` prints unless told otherwise.
    public static let defaultListLimit = 1000

    /// The tenant's reminders, newest first (one customer's when `customerID` is given).
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func list(
        tenantID: Int64, customerID: String?, status: String? = nil, limit: Int = defaultListLimit, on connection: PostgresConnection
    ) throws -> [ReminderView] {
        if let status, !["pending", "sent", "failed"].contains(status) {
            throw LedgerStoreError("invalid --status \"\(status.prefix(40))\": expected pending, sent or failed")
        }
        guard (1...1_000_000).contains(limit) else { throw LedgerStoreError("invalid --limit \(limit): use 1 to 1000000") }
        return try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            let reminders = try connection.query(
                """
                SELECT \(columns) FROM encours.reminders r
                WHERE ($1::text IS NULL OR r.customer_id = $1) AND ($2::text IS NULL OR r.status = $2)
                ORDER BY r.reminder_id DESC LIMIT $3
                """, [customerID, status, limit])
            return try views(reminders, on: connection)
        }
    }

    /// The reminders of one recorded run, in the current tenant scope.
    @available(*, noasync)
    static func list(runID: Int64, on connection: PostgresConnection) throws -> [ReminderView] {
        try views(
            connection.query("SELECT \(columns) FROM encours.reminders r WHERE r.run_id = $1 ORDER BY r.reminder_id", [runID]),
            on: connection)
    }

    static let columns = """
        r.reminder_id, r.run_id, r.customer_id, r.currency, r.level, r.template, r.channel, r.language, r.recipient, r.status,
        r.failure_reason, to_char(r.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS sent_at, r.as_of::text AS as_of,
        r.total_balance_cents, r.interest_cents, r.indemnity_cents
        """

    @available(*, noasync)
    static func views(_ reminders: PostgresResult, on connection: PostgresConnection) throws -> [ReminderView] {
        let ids = try reminders.rows.map { try $0.decode("reminder_id", as: Int64.self) }
        let items = try connection.query(
            """
            SELECT reminder_id, \(itemColumns()) FROM encours.reminder_items i
            WHERE reminder_id = ANY ($1::bigint[]) ORDER BY reminder_id, due_date, invoice_id
            """, [ids])
        var byReminder: [Int64: [Item]] = [:]
        for row in items.rows { byReminder[try row.decode("reminder_id"), default: []].append(try item(row)) }
        return try reminders.rows.map { row in
            let id: Int64 = try row.decode("reminder_id")
            return try view(row, id: id, runID: try row.decode("run_id"), status: try row.decode("status"), items: byReminder[id] ?? [])
        }
    }

    /// What a dry run would record, from the run's temporary tables.
    @available(*, noasync)
    static func planned(asOf: CalendarDate, on connection: PostgresConnection) throws -> [ReminderView] {
        let groups = try connection.query(
            """
            SELECT customer_id, currency, level, template, channel, language, CASE WHEN channel = 'email' THEN email END AS recipient,
                   NULL::text AS failure_reason, NULL::text AS sent_at, $1::text AS as_of,
                   total_balance_cents, interest_cents, indemnity_cents
            FROM dunning_groups ORDER BY customer_id, currency
            """, [asOf.isoString])
        let items = try connection.query(
            "SELECT customer_id, currency, \(itemColumns(level: "i.new_level")) FROM dunning_plan i ORDER BY customer_id, currency, due_date, invoice_id")
        var byGroup: [String: [Item]] = [:]
        for row in items.rows {
            byGroup[try row.decode("customer_id", as: String.self) + "\u{1}" + row.decode("currency", as: String.self), default: []]
                .append(try item(row))
        }
        return try groups.rows.map { row in
            let key = try row.decode("customer_id", as: String.self) + "\u{1}" + row.decode("currency", as: String.self)
            return try view(row, id: nil, runID: nil, status: "pending", items: byGroup[key] ?? [])
        }
    }

    /// An item's columns, from `reminder_items` or from a run's plan (whose level is `new_level`).
    static func itemColumns(level: String = "i.level") -> String {
        """
        i.invoice_id, \(level) AS level, i.previous_level, i.issue_date::text AS issue_date, i.due_date::text AS due_date,
        i.amount_cents, i.balance_cents, i.days_overdue, i.interest_cents, i.indemnity_cents
        """
    }

    static func item(_ row: PostgresRow) throws -> Item {
        Item(
            invoiceID: try row.decode("invoice_id"), level: try row.decode("level"), previousLevel: try row.decode("previous_level"),
            issueDate: try row.decode("issue_date"), dueDate: try row.decode("due_date"),
            amount: Money.decimalString(cents: try row.decode("amount_cents", as: Int64.self)),
            balance: Money.decimalString(cents: try row.decode("balance_cents", as: Int64.self)),
            daysOverdue: try row.decode("days_overdue"),
            interest: Money.decimalString(cents: try row.decode("interest_cents", as: Int64.self)),
            indemnity: Money.decimalString(cents: try row.decode("indemnity_cents", as: Int64.self)))
    }

    static func view(_ row: PostgresRow, id: Int64?, runID: Int64?, status: String, items: [Item]) throws -> ReminderView {
        ReminderView(
            id: id, runID: runID, customerID: try row.decode("customer_id"), currency: try row.decode("currency"),
            level: try row.decode("level"), template: try row.decode("template"), channel: try row.decode("channel"),
            language: try row.decode("language"), recipient: try row.decode("recipient"), status: status,
            failureReason: try row.decode("failure_reason"), sentAt: try row.decode("sent_at"), asOf: try row.decode("as_of"),
            totalBalance: Money.decimalString(cents: try row.decode("total_balance_cents", as: Int64.self)),
            interest: Money.decimalString(cents: try row.decode("interest_cents", as: Int64.self)),
            indemnity: Money.decimalString(cents: try row.decode("indemnity_cents", as: Int64.self)),
            items: items)
    }
}

/// What delivering one reminder needs, and the record of its delivery.
public enum ReminderDeliveryStore {
    /// A pending reminder with everything its document and its transport need.
    public struct Delivery: Sendable {
        public var reminder: ReminderView
        public var chargesPenalties: Bool
        public var customerName: String
        public var customerEmail: String?
        public var tenantName: String
        public var tenantSlug: String
        /// Tenant settings the transports read (`smtp_from`, `webhook_url`, `webhook_secret`,
        /// `penalty_margin_points`); absent keys are unset.
        public var settings: [String: String]
    }

    /// The reminders among `reminderIDs` of the current tenant scope that are still `pending`, in
    /// id order; those already sent or failed (a retried delivery job has nothing left to do for
    /// them) and unknown ids are left out. Two queries whatever the number of reminders.
    ///
    /// Not locked: one job delivers a reminder, its attempts are fenced by their lease, and the
    /// status changes below only move a reminder that is still pending.
    @available(*, noasync)
    public static func pending(reminderIDs: [Int64], on connection: PostgresConnection) throws -> [Delivery] {
        guard !reminderIDs.isEmpty else { return [] }
        let rows = try connection.query(
            """
            SELECT \(ReminderView.columns), r.charge_penalties, c.name AS customer_name, nullif(btrim(c.email), '') AS customer_email,
                   t.name AS tenant_name, t.slug AS tenant_slug, t.settings::text AS settings
            FROM encours.reminders r
            JOIN encours.customers c ON c.tenant_id = r.tenant_id AND c.customer_id = r.customer_id
            JOIN encours.tenants t ON t.id = r.tenant_id
            WHERE r.reminder_id = ANY ($1::bigint[]) AND r.status = 'pending'
            ORDER BY r.reminder_id
            """, [reminderIDs])
        guard rows.count > 0 else { return [] }
        let ids = try rows.rows.map { try $0.decode("reminder_id", as: Int64.self) }
        let items = try connection.query(
            """
            SELECT reminder_id, \(ReminderView.itemColumns()) FROM encours.reminder_items i
            WHERE reminder_id = ANY ($1::bigint[]) ORDER BY reminder_id, due_date, invoice_id
            """, [ids])
        var byReminder: [Int64: [ReminderView.Item]] = [:]
        for row in items.rows { byReminder[try row.decode("reminder_id"), default: []].append(try ReminderView.item(row)) }
        // One tenant scope: the settings document is the same on every row.
        var settingsByText: [String: [String: String]] = [:]
        return try rows.rows.map { row in
            let id: Int64 = try row.decode("reminder_id")
            let settingsText: String = try row.decode("settings")
            let settings = settingsByText[settingsText] ?? DeliveryStatus.stringSettings(json: settingsText)
            settingsByText[settingsText] = settings
            return Delivery(
                reminder: try ReminderView.view(row, id: id, runID: try row.decode("run_id"), status: "pending", items: byReminder[id] ?? []),
                chargesPenalties: try row.decode("charge_penalties"), customerName: try row.decode("customer_name"),
                customerEmail: try row.decode("customer_email"), tenantName: try row.decode("tenant_name"),
                tenantSlug: try row.decode("tenant_slug"), settings: settings)
        }
    }

    /// Records what a delivery job did with each reminder: sent, failed with its reason, or an
    /// attempt counted for a retry; only reminders still pending move. Returns how many did.
    @available(*, noasync)
    @discardableResult
    public static func record(_ outcomes: DeliveryOutcomes, on connection: PostgresConnection) throws -> Int {
        try DeliveryStatus.reminders.record(outcomes, on: connection)
    }
}
