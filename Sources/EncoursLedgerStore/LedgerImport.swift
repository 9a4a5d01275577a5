import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// Imports a CSV file of customers, invoices, payments or disputes into a tenant's ledger:
/// whole or not at all, re-importing an id updates it.
///
/// The file is parsed as a stream (``ImportParser``); valid rows go to a temporary staging table
/// by `COPY` in batches, so memory stays flat. Checks that need the ledger (unknown customer,
/// payment larger than the invoice balance, currency mismatch, ...) run in SQL on the staging
/// table and report `file:line: field: problem` like the parser's own. Then one upsert per table.
public enum LedgerImport {
    /// What an import did (or, with `dryRun`, would do).
    public struct Outcome: Sendable, Encodable {
        public var kind: String
        public var file: String
        public var rows: Int
        public var inserted: Int
        public var updated: Int
        public var unchanged: Int
        public var dryRun: Bool
        enum CodingKeys: String, CodingKey {
            case kind, file, rows, inserted, updated, unchanged
            case dryRun = "dry_run"
        }
    }

    /// An import refused: every problem found, and nothing changed.
    public struct Rejected: Error, CustomStringConvertible, Sendable {
        public var issues: ImportIssueList
        public var description: String { issues.description }
    }

    /// Rows sent to the staging table per COPY.
    static let copyBatch = 20_000

    /// Imports `url` for the tenant; throws ``Rejected`` listing every problem when the file is not importable.
    ///
    /// When the import changes the ledger (not on a dry run), `afterChange` runs in its transaction
    /// with the customers the file touches (nil when more than ``RiskRecalc/maximumNamedCustomers``):
    /// the admin layer enqueues their risk recalculation there, so it commits with the import.
    /// Refreshes the planner statistics of the table an import of `kind` writes (its owner only;
    /// row-level security does not apply to statistics).
    @available(*, noasync)
    public static func analyze(kind: ImportKind, on connection: PostgresConnection) throws {
        try connection.execute("ANALYZE encours.\(Staging(kind: kind).tableAndKey.table)")
    }

    public static func run(
        kind: ImportKind, fileURL url: URL, fileName: String, tenantID: Int64, tenantCurrency: String, dryRun: Bool,
        actor: String = "encours import", afterChange: ((PostgresConnection, [String]?) throws -> Void)? = nil,
        progress: ((Int) -> Void)? = nil, on connection: PostgresConnection
    ) throws -> Outcome {
        let currency = try CurrencyCode(tenantCurrency)
        return try TenantScope.transaction(tenantID: tenantID, actor: actor, commit: !dryRun, on: connection) { connection in
            // Another writer of this tenant's ledger (a concurrent import, promise or dispute)
            // finishes first; this import's checks then see its rows.
            try TenantScope.lockLedger(on: connection)
            let staging = Staging(kind: kind)
            try connection.execute(staging.createSQL)
            var pending: [String] = []
            pending.reserveCapacity(copyBatch)
            var staged = 0
            func flush() throws {
                guard !pending.isEmpty else { return }
                try connection.copyIn(staging.copySQL, chunks: pending)
                staged += pending.count
                pending.removeAll(keepingCapacity: true)
                progress?(staged)
            }
            // Duplicate ids are found on the staging table (below), so memory stays flat.
            let parser = ImportParser(kind: kind, fileName: fileName, defaultCurrency: currency, checksDuplicateIDs: false)
            // New disputes start at tier 1, due after its SLA in the tenant's business days.
            let escalation = kind == .disputes ? try Disputes.escalationRule(on: connection) : nil
            let summary = try parser.parse(contentsOf: url) { row in
                var disputeDeadline: CalendarDate?
                if case .dispute(let dispute) = row, let escalation { disputeDeadline = try escalation.firstDeadline(openedOn: dispute.openedOn) }
                let line = staging.copyLine(row, deadline: disputeDeadline)
                pending.append(line)
                if pending.count >= copyBatch { try flush() }
            }
            try flush()
            // Optional columns the file does not have keep the existing rows' values (a
            // customer_id;name file renames customers without erasing their emails): copied into
            // the staged rows before the checks, so those and the update see no change in them.
            if let keep = staging.keepExistingSQL(present: Set(summary.columns)) {
                try connection.query(keep, [tenantID])
            }
            try connection.execute("ANALYZE import_rows")
            func issues(of check: Staging.Check) throws -> [ImportIssue] {
                try connection.query(check.sql, [tenantID]).rows.map { row in
                    ImportIssue(
                        file: fileName, line: try row.decode("line", as: Int.self), field: check.field,
                        value: row["value"], code: .invalidValue, message: try row.decode("message", as: String.self))
                }
            }
            // Duplicate ids among the valid rows are listed with the file's own problems.
            let duplicates = try issues(of: staging.duplicates)
            guard summary.isValid, duplicates.isEmpty else {
                var all = summary.issues
                for issue in duplicates { all.append(issue) }
                throw Rejected(issues: all.unlistedCount == 0 ? all.sortedByLine() : all)
            }
            var found = ImportIssueList()
            for check in staging.checks {
                for issue in try issues(of: check) { found.append(issue) }
            }
            guard found.isEmpty else { throw Rejected(issues: found) }

            let counts = try connection.query(staging.upsertSQL, [tenantID])
            let inserted = try counts.decode(Int.self, row: 0, column: 0)
            let updated = try counts.decode(Int.self, row: 0, column: 1)
            if let escalation, inserted > 0 {
                // Each new dispute's history starts with its opening, at tier 1 (by this import's actor).
                try connection.query(
                    """
                    INSERT INTO encours.dispute_events (tenant_id, dispute_id, kind, tier, tier_name, deadline, amount_cents)
                    SELECT $1, s.dispute_id, 'opened', 1, $2, s.deadline, s.amount_cents FROM import_rows s
                    WHERE NOT EXISTS (SELECT FROM encours.dispute_events e WHERE e.tenant_id = $1 AND e.dispute_id = s.dispute_id)
                    ORDER BY s.line
                    """, [tenantID, escalation.tier(1).name])
            }
            let outcome = Outcome(
                kind: kind.rawValue, file: fileName, rows: summary.validRowCount, inserted: inserted, updated: updated,
                unchanged: summary.validRowCount - inserted - updated, dryRun: dryRun)
            try connection.query(
                """
                SELECT encours.audit('import', $1, NULL,
                    jsonb_build_object('file', $2::text, 'rows', $3::int, 'inserted', $4::int, 'updated', $5::int))
                """, [kind.rawValue, fileName, outcome.rows, inserted, updated])
            if let afterChange, !dryRun, inserted + updated > 0 {
                let touched = try connection.query(
                    kind == .disputes
                        ? """
                        SELECT DISTINCT i.customer_id FROM import_rows s
                        JOIN encours.invoices i ON i.tenant_id = (SELECT encours.current_tenant_id()) AND i.invoice_id = s.invoice_id
                        LIMIT $1
                        """
                        : "SELECT DISTINCT customer_id FROM import_rows LIMIT $1",
                    [RiskRecalc.maximumNamedCustomers + 1])
                let customers = try touched.rows.map { try $0.decode(0, as: String.self) }
                try afterChange(connection, customers.count > RiskRecalc.maximumNamedCustomers ? nil : customers.sorted())
            }
            return outcome
        }
    }
}

extension ImportIssueList {
    /// The listed issues ordered by line (unlisted ones stay counted).
    func sortedByLine() -> ImportIssueList {
        var sorted = ImportIssueList(listLimit: listLimit)
        for issue in listed.sorted(by: { ($0.line ?? 0) < ($1.line ?? 0) }) { sorted.append(issue) }
        return sorted
    }
}

/// The staging table, COPY format, cross-row checks and upsert of one kind of file.
struct Staging {
    let kind: ImportKind

    struct Check {
        /// The field named in the issue.
        var field: String
        /// Returns (line, value, message) rows for each problem; $1 is the tenant id.
        var sql: String
    }

    var createSQL: String {
        let columns: String
        switch kind {
        case .customers:
            columns = """
                line INT, customer_id TEXT, name TEXT, email TEXT, language TEXT, payment_terms_days INT,
                credit_limit_cents BIGINT, policy TEXT, on_hold BOOLEAN
                """
        case .invoices:
            columns = """
                line INT, invoice_id TEXT, customer_id TEXT, kind TEXT, applies_to TEXT, issue_date DATE, due_date DATE,
                amount_cents BIGINT, currency TEXT
                """
        case .payments:
            columns = """
                line INT, payment_id TEXT, customer_id TEXT, invoice_id TEXT, received_on DATE, amount_cents BIGINT, currency TEXT
                """
        case .disputes:
            columns = "line INT, dispute_id TEXT, invoice_id TEXT, reason TEXT, note TEXT, opened_on DATE, amount_cents BIGINT, deadline DATE"
        }
        // Ids compare byte-wise, like the ledger's id columns (COLLATE "C").
        var declared = columns
        for id in ["customer_id", "invoice_id", "applies_to", "payment_id", "dispute_id"] {
            declared = declared.replacingOccurrences(of: "\(id) TEXT", with: "\(id) TEXT COLLATE \"C\"")
        }
        return "CREATE TEMP TABLE import_rows (\(declared)) ON COMMIT DROP"
    }

    var copySQL: String { "COPY import_rows FROM STDIN" }

    /// One COPY line; `deadline` is a new dispute's first deadline (disputes files only).
    func copyLine(_ row: ImportRow, deadline: CalendarDate? = nil) -> String {
        func text(_ value: String?) -> String { PostgresConnection.copyEscape(value) }
        let fields: [String]
        switch row {
        case .customer(let c):
            fields = [
                String(c.line), text(c.customerID), text(c.name), text(c.email), c.language.rawValue,
                c.paymentTermsDays.map(String.init) ?? "\\N", c.creditLimit.map { String($0.cents) } ?? "\\N",
                text(c.policy), c.onHold ? "t" : "f",
            ]
        case .invoice(let i):
            fields = [
                String(i.line), text(i.invoiceID), text(i.customerID), i.kind.name, text(i.kind.appliesTo),
                i.issueDate.isoString, i.dueDate.isoString, String(i.amount.cents), i.amount.currency.code,
            ]
        case .payment(let p):
            fields = [
                String(p.line), text(p.paymentID), text(p.customerID), text(p.invoiceID), p.receivedOn.isoString,
                String(p.amount.cents), p.amount.currency.code,
            ]
        case .dispute(let d):
            fields = [
                String(d.line), text(d.disputeID), text(d.invoiceID), d.reason.rawValue, text(d.note), d.openedOn.isoString,
                d.amountCents.map(String.init) ?? "\\N", deadline?.isoString ?? "\\N",
            ]
        }
        return fields.joined(separator: "\t") + "\n"
    }

    /// The id column of this kind of file.
    var idColumn: String { kind.idColumn.name }

    /// The same id twice in one file: every later row names the first. ($1, the tenant, is unused.)
    var duplicates: Check {
        Check(field: idColumn, sql: """
            SELECT line, \(idColumn) AS value, 'duplicate of line ' || first_line AS message
            FROM (SELECT line, \(idColumn), min(line) OVER (PARTITION BY \(idColumn)) AS first_line FROM import_rows) d
            WHERE line > first_line AND $1::bigint IS NOT NULL
            ORDER BY line
            """)
    }

    /// A row naming a customer the tenant does not have (invoices and payments files).
    static let unknownCustomer = Check(field: "customer_id", sql: """
        SELECT s.line, s.customer_id AS value, 'unknown customer' AS message
        FROM import_rows s
        WHERE NOT EXISTS (SELECT 1 FROM encours.customers c WHERE c.tenant_id = $1 AND c.customer_id = s.customer_id)
        ORDER BY s.line
        """)

    /// A re-imported invoice whose `field` (customer, currency or kind) changes while payments,
    /// credit notes or disputes point at it: refused, naming the first five of them.
    static func invoiceChangeBlocked(field: String) -> Check {
        Check(field: field, sql: """
            SELECT s.line, s.\(field)::text AS value,
                   'cannot change \(field) of invoice ' || s.invoice_id || ' from ' || i.\(field) || ' to ' || s.\(field)
                     || ' while ' || dependents.names
                     || CASE WHEN dependents.total > 5 THEN ' and ' || (dependents.total - 5) || ' more' ELSE '' END
                     || CASE WHEN dependents.total = 1 THEN ' applies' ELSE ' apply' END || ' to it' AS message
            FROM import_rows s
            JOIN encours.invoices i ON i.tenant_id = $1 AND i.invoice_id = s.invoice_id AND i.kind = 'invoice'
            CROSS JOIN LATERAL (
                SELECT count(*) AS total, string_agg(name, ', ' ORDER BY name) FILTER (WHERE rank <= 5) AS names
                FROM (
                    SELECT name, row_number() OVER (ORDER BY name) AS rank FROM (
                        SELECT 'payment ' || p.payment_id AS name FROM encours.payments p
                        WHERE p.tenant_id = $1 AND p.invoice_id = i.invoice_id
                        UNION ALL
                        SELECT 'credit note ' || c.invoice_id FROM encours.invoices c
                        WHERE c.tenant_id = $1 AND c.applies_to = i.invoice_id
                        UNION ALL
                        SELECT 'dispute ' || d.dispute_id FROM encours.disputes d
                        WHERE d.tenant_id = $1 AND d.invoice_id = i.invoice_id
                    ) named
                ) ranked
            ) dependents
            WHERE s.\(field)::text IS DISTINCT FROM i.\(field)::text AND dependents.total > 0
            ORDER BY s.line
            """)
    }

    /// Checks that need the ledger. RLS limits every table to the tenant; $1 is its id.
    var checks: [Check] {
        switch kind {
        case .customers:
            return []
        case .invoices:
            return [
                Self.unknownCustomer,
                Check(field: "applies_to", sql: """
                    SELECT s.line, s.applies_to AS value, 'no invoice with this id' AS message
                    FROM import_rows s
                    WHERE s.kind = 'credit_note'
                      AND NOT EXISTS (SELECT 1 FROM import_rows t WHERE t.invoice_id = s.applies_to AND t.kind = 'invoice')
                      AND NOT EXISTS (SELECT 1 FROM encours.invoices i WHERE i.tenant_id = $1 AND i.invoice_id = s.applies_to AND i.kind = 'invoice')
                    ORDER BY s.line
                    """),
                Self.invoiceChangeBlocked(field: "customer_id"),
                Self.invoiceChangeBlocked(field: "currency"),
                Self.invoiceChangeBlocked(field: "kind"),
                Check(field: "customer_id", sql: """
                    SELECT s.line, s.customer_id AS value,
                           'credit note for invoice ' || s.applies_to || ' of customer ' || coalesce(t.customer_id, i.customer_id)
                             || ', not ' || s.customer_id AS message
                    FROM import_rows s
                    LEFT JOIN import_rows t ON t.invoice_id = s.applies_to AND t.kind = 'invoice'
                    LEFT JOIN encours.invoices i ON i.tenant_id = $1 AND i.invoice_id = s.applies_to
                    WHERE s.kind = 'credit_note' AND s.customer_id <> coalesce(t.customer_id, i.customer_id)
                    ORDER BY s.line
                    """),
                Check(field: "currency", sql: """
                    SELECT s.line, s.currency AS value,
                           'credit note in ' || s.currency || ' for an invoice in ' || coalesce(t.currency, i.currency) AS message
                    FROM import_rows s
                    LEFT JOIN import_rows t ON t.invoice_id = s.applies_to AND t.kind = 'invoice'
                    LEFT JOIN encours.invoices i ON i.tenant_id = $1 AND i.invoice_id = s.applies_to
                    WHERE s.kind = 'credit_note' AND s.currency <> coalesce(t.currency, i.currency)
                    ORDER BY s.line
                    """),
                Check(field: "amount", sql: """
                    WITH touched AS (
                        SELECT applies_to AS invoice_id FROM import_rows WHERE kind = 'credit_note'
                        UNION SELECT invoice_id FROM import_rows WHERE kind = 'invoice'
                    ),
                    target AS (
                        SELECT touched.invoice_id, coalesce(t.amount_cents, i.amount_cents) AS amount_cents, t.line
                        FROM touched
                        LEFT JOIN import_rows t ON t.invoice_id = touched.invoice_id AND t.kind = 'invoice'
                        LEFT JOIN encours.invoices i ON i.tenant_id = $1 AND i.invoice_id = touched.invoice_id AND i.kind = 'invoice'
                    ),
                    reductions AS (
                        SELECT invoice_id, sum(cents) AS reduced_cents FROM (
                            SELECT p.invoice_id, p.amount_cents AS cents FROM encours.payments p
                            WHERE p.tenant_id = $1 AND p.invoice_id IS NOT NULL
                            UNION ALL
                            SELECT c.applies_to, c.amount_cents FROM encours.invoices c
                            WHERE c.tenant_id = $1 AND c.kind = 'credit_note'
                              AND NOT EXISTS (SELECT 1 FROM import_rows r WHERE r.invoice_id = c.invoice_id)
                            UNION ALL
                            SELECT r.applies_to, r.amount_cents FROM import_rows r WHERE r.kind = 'credit_note'
                            UNION ALL
                            SELECT d.invoice_id, d.amount_cents FROM encours.disputes d
                            WHERE d.tenant_id = $1 AND d.status <> 'resolved' AND d.amount_cents IS NOT NULL
                        ) x GROUP BY invoice_id
                    )
                    SELECT coalesce(target.line, (SELECT min(r.line) FROM import_rows r WHERE r.applies_to = target.invoice_id)) AS line,
                           NULL AS value,
                           'payments, credit notes and open disputes (' || encours.format_cents(reductions.reduced_cents)
                             || ') exceed the amount of invoice ' || target.invoice_id
                             || ' (' || encours.format_cents(target.amount_cents) || ')' AS message
                    FROM target JOIN reductions USING (invoice_id)
                    WHERE reductions.reduced_cents > target.amount_cents
                    ORDER BY 1
                    """),
            ]
        case .payments:
            return [
                Self.unknownCustomer,
                Check(field: "invoice_id", sql: """
                    SELECT s.line, s.invoice_id AS value,
                           CASE WHEN i.invoice_id IS NULL THEN 'unknown invoice'
                                WHEN i.kind <> 'invoice' THEN 'is a credit note, not an invoice'
                                ELSE 'belongs to customer ' || i.customer_id || ', not ' || s.customer_id END AS message
                    FROM import_rows s
                    LEFT JOIN encours.invoices i ON i.tenant_id = $1 AND i.invoice_id = s.invoice_id
                    WHERE s.invoice_id IS NOT NULL
                      AND (i.invoice_id IS NULL OR i.kind <> 'invoice' OR i.customer_id <> s.customer_id)
                    ORDER BY s.line
                    """),
                Check(field: "currency", sql: """
                    SELECT s.line, s.currency AS value, 'invoice ' || i.invoice_id || ' is in ' || i.currency AS message
                    FROM import_rows s
                    JOIN encours.invoices i ON i.tenant_id = $1 AND i.invoice_id = s.invoice_id
                    WHERE s.currency <> i.currency
                    ORDER BY s.line
                    """),
                // Set-based, restricted to the invoices the file pays: the balances view joined per
                // staged row would aggregate the whole ledger once per row.
                Check(field: "amount", sql: """
                    WITH applied AS (
                        SELECT s.invoice_id, sum(s.amount_cents) AS staged_cents, max(s.line) AS line
                        FROM import_rows s WHERE s.invoice_id IS NOT NULL GROUP BY s.invoice_id
                    ),
                    other AS (
                        SELECT p.invoice_id, sum(p.amount_cents) AS paid FROM encours.payments p
                        WHERE p.tenant_id = $1 AND p.invoice_id IN (SELECT invoice_id FROM applied)
                          AND NOT EXISTS (SELECT 1 FROM import_rows r WHERE r.payment_id = p.payment_id)
                        GROUP BY p.invoice_id
                    ),
                    credited AS (
                        SELECT c.applies_to AS invoice_id, sum(c.amount_cents) AS credited FROM encours.invoices c
                        WHERE c.tenant_id = $1 AND c.applies_to IN (SELECT invoice_id FROM applied)
                        GROUP BY c.applies_to
                    )
                    SELECT a.line, NULL AS value,
                           'payments to invoice ' || a.invoice_id || ' ('
                             || encours.format_cents(a.staged_cents + coalesce(o.paid, 0))
                             || ') exceed its balance before payments ('
                             || encours.format_cents(i.amount_cents - coalesce(c.credited, 0)) || ')' AS message
                    FROM applied a
                    JOIN encours.invoices i ON i.tenant_id = $1 AND i.invoice_id = a.invoice_id AND i.kind = 'invoice'
                    LEFT JOIN other o ON o.invoice_id = a.invoice_id
                    LEFT JOIN credited c ON c.invoice_id = a.invoice_id
                    WHERE a.staged_cents + coalesce(o.paid, 0) > i.amount_cents - coalesce(c.credited, 0)
                    ORDER BY a.line
                    """),
            ]
        case .disputes:
            return [
                Check(field: "invoice_id", sql: """
                    SELECT s.line, s.invoice_id AS value, 'unknown invoice' AS message
                    FROM import_rows s
                    WHERE NOT EXISTS (SELECT 1 FROM encours.invoices i WHERE i.tenant_id = $1 AND i.invoice_id = s.invoice_id AND i.kind = 'invoice')
                    ORDER BY s.line
                    """),
                Check(field: "amount", sql: """
                    WITH disputed AS (SELECT DISTINCT invoice_id FROM import_rows WHERE amount_cents IS NOT NULL),
                    paid AS (
                        SELECT p.invoice_id, sum(p.amount_cents) AS cents FROM encours.payments p
                        WHERE p.tenant_id = $1 AND p.invoice_id IN (SELECT invoice_id FROM disputed) GROUP BY p.invoice_id
                    ),
                    credited AS (
                        SELECT c.applies_to AS invoice_id, sum(c.amount_cents) AS cents FROM encours.invoices c
                        WHERE c.tenant_id = $1 AND c.applies_to IN (SELECT invoice_id FROM disputed) GROUP BY c.applies_to
                    )
                    SELECT s.line, encours.format_cents(s.amount_cents) AS value,
                           'more than the invoice balance ('
                             || encours.format_cents(i.amount_cents - coalesce(p.cents, 0) - coalesce(c.cents, 0)) || ')' AS message
                    FROM import_rows s
                    JOIN encours.invoices i ON i.tenant_id = $1 AND i.invoice_id = s.invoice_id AND i.kind = 'invoice'
                    LEFT JOIN paid p ON p.invoice_id = s.invoice_id
                    LEFT JOIN credited c ON c.invoice_id = s.invoice_id
                    WHERE s.amount_cents IS NOT NULL AND s.amount_cents > i.amount_cents - coalesce(p.cents, 0) - coalesce(c.cents, 0)
                      -- A dispute already recorded with this amount, or resolved (its credit note may have used
                      -- the balance up), is history: re-importing the same file must not be refused.
                      AND NOT EXISTS (
                          SELECT FROM encours.disputes d
                          WHERE d.tenant_id = $1 AND d.dispute_id = s.dispute_id
                            AND (d.status = 'resolved' OR d.amount_cents IS NOT DISTINCT FROM s.amount_cents)
                      )
                    ORDER BY s.line
                    """),
            ]
        }
    }

    /// The optional columns of this kind, as the header names them and as the staging and ledger tables do.
    var optionalColumns: [(column: ImportColumn, name: String)] {
        switch kind {
        case .customers:
            [(.email, "email"), (.language, "language"), (.paymentTermsDays, "payment_terms_days"), (.creditLimit, "credit_limit_cents"),
             (.policy, "policy"), (.onHold, "on_hold")]
        case .invoices: [(.currency, "currency"), (.kind, "kind"), (.appliesTo, "applies_to")]
        case .payments: [(.invoiceID, "invoice_id"), (.currency, "currency")]
        case .disputes: [(.amount, "amount_cents"), (.note, "note")]
        }
    }

    /// Copies the existing rows' values of the optional columns missing from the file into the
    /// staged rows of the same ids; nil when the file has them all. $1 is the tenant id.
    func keepExistingSQL(present: Set<ImportColumn>) -> String? {
        let missing = optionalColumns.filter { !present.contains($0.column) }.map(\.name)
        guard !missing.isEmpty else { return nil }
        let (table, key) = tableAndKey
        return """
            UPDATE import_rows s SET \(missing.map { "\($0) = t.\($0)" }.joined(separator: ", "))
            FROM encours.\(table) t WHERE t.tenant_id = $1 AND t.\(key) = s.\(key)
            """
    }

    /// The ledger table of this kind and its id column.
    var tableAndKey: (table: String, key: String) {
        switch kind {
        case .customers: ("customers", "customer_id")
        case .invoices: ("invoices", "invoice_id")
        case .payments: ("payments", "payment_id")
        case .disputes: ("disputes", "dispute_id")
        }
    }

    /// Inserts new ids and updates changed rows; returns (inserted, updated). $1 is the tenant id.
    var upsertSQL: String {
        let (table, key) = tableAndKey
        let columns: [String]
        switch kind {
        case .customers: columns = ["name", "email", "language", "payment_terms_days", "credit_limit_cents", "policy", "on_hold"]
        case .invoices: columns = ["customer_id", "kind", "applies_to", "issue_date", "due_date", "amount_cents", "currency"]
        case .payments: columns = ["customer_id", "invoice_id", "received_on", "amount_cents", "currency"]
        // Only the imported facts; status, tier and deadline belong to the escalation lifecycle.
        case .disputes: columns = ["invoice_id", "reason", "note", "opened_on", "amount_cents"]
        }
        // Columns set only when a row is new (a dispute's first deadline; later ones belong to escalation).
        let insertOnly = kind == .disputes ? ["deadline"] : []
        let all = [key] + columns + insertOnly
        let changed = "(" + columns.map { "t.\($0)" }.joined(separator: ", ") + ") IS DISTINCT FROM ("
            + columns.map { "s.\($0)" }.joined(separator: ", ") + ")"
        // A plain UPDATE and an anti-joined INSERT (one statement, one snapshot) rather than INSERT ...
        // ON CONFLICT, whose speculative insertion per row made a million-row import much slower.
        return """
            WITH updated AS (
                UPDATE encours.\(table) t SET \(columns.map { "\($0) = s.\($0)" }.joined(separator: ", ")), updated_at = now()
                FROM import_rows s
                WHERE t.tenant_id = $1 AND t.\(key) = s.\(key) AND \(changed)
                RETURNING 1
            ),
            inserted AS (
                INSERT INTO encours.\(table) (tenant_id, \(all.joined(separator: ", ")))
                SELECT $1, \(all.joined(separator: ", ")) FROM import_rows s
                WHERE NOT EXISTS (SELECT 1 FROM encours.\(table) t WHERE t.tenant_id = $1 AND t.\(key) = s.\(key))
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM updated)
            """
    }
}
