import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// A dunning run for one tenant at one date (the rules of the README's "Dunning" section).
///
/// Set-based: the whole tenant's ledger is planned by a few statements into two temporary tables
/// (the listed invoices and the reminders), interest is computed in Swift for the invoices of
/// reminders that charge penalties (one query for their payments and credit notes, one update
/// back), and the reminders, their items and the invoices' new levels are written by one
/// statement each. The caller owns the transaction: the worker runs it inside the job's fenced
/// transaction, so the run's writes, its delivery jobs and the job's completion commit together.
public enum DunningRun {
    /// What a run recorded, or would record.
    public struct Outcome: Sendable {
        /// The run's date.
        public var asOf: CalendarDate
        /// The run recorded (nil for a dry run, or when nothing moved).
        public var runID: Int64?
        /// The reminders recorded, by id with their channel, in id order (empty for a dry run).
        public var recorded: [RecordedReminder]
        /// The ids of the reminders recorded.
        public var reminderIDs: [Int64] { recorded.map(\.id) }
        /// The reminders, as `reminders list` shows them (ids nil for a dry run). Filled for dry
        /// runs, and for recorded runs when asked.
        public var reminders: [ReminderView]
        /// Invoices that moved one level.
        public var invoicesMoved: Int
        /// How many reminders there are.
        public var reminderCount: Int
        /// How long each phase took (plan, penalties, record), for logs and benchmarks.
        public var phases: [(name: String, duration: Duration)] = []
    }

    /// A reminder a run recorded: its id and the channel it goes by.
    public struct RecordedReminder: Sendable, Equatable {
        public var id: Int64
        public var channel: String
    }

    /// The tenant settings a run reads.
    struct PenaltySettings {
        var marginHundredths = LatePenalty.defaultMarginHundredths
        /// Indemnity per listed overdue invoice, by currency code (EUR: 40.00 unless set).
        var indemnityCents: [String: Int64] = ["EUR": 4000]

        init(settings: [(key: String, value: String)]) throws {
            for (key, value) in settings {
                if key == "penalty_margin_points" {
                    do { marginHundredths = try LatePenalty.marginHundredths(parsing: value) } catch {
                        throw LedgerStoreError("tenant setting penalty_margin_points \"\(value.prefix(40))\": \(error.message)")
                    }
                } else if key == "recovery_indemnity" || key.hasPrefix("recovery_indemnity_") {
                    let cents: Int64
                    do { cents = try Money.parseExactCents(value) } catch {
                        throw LedgerStoreError("tenant setting \(key) \"\(value.prefix(40))\": \(error.message)")
                    }
                    let currency = key == "recovery_indemnity" ? "EUR" : key.dropFirst("recovery_indemnity_".count).uppercased()
                    // recovery_indemnity_eur, when set, wins over recovery_indemnity.
                    if key == "recovery_indemnity", settings.contains(where: { $0.key == "recovery_indemnity_eur" }) { continue }
                    indemnityCents[currency] = cents
                }
            }
        }
    }

    /// Plans the run at `asOf` (default: today in the tenant's time zone) in the current tenant
    /// scope and, unless `dryRun`, records it.
    ///
    /// Must run inside a tenant-scoped transaction (see ``TenantScope``); it takes the tenant's
    /// ledger lock, so two runs (or a run and an import) of one tenant take turns, and the second
    /// finds the first's moves. `jobID` is stored with the run. A dry run writes nothing that
    /// outlives the transaction but temporary tables (dropped at its end); roll it back anyway.
    @available(*, noasync, message: "blocks its thread: run it inside a tenant-scoped transaction")
    public static func perform(
        asOf requested: CalendarDate?, dryRun: Bool, jobID: Int64?, listReminders: Bool = false, on connection: PostgresConnection
    ) throws -> Outcome {
        try TenantScope.lockLedger(on: connection)
        try connection.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
        let today = try connection.query("SELECT encours.current_tenant_today()::text").decode(String.self, row: 0, column: 0)
        let asOf = try requested ?? CalendarDate(parsing: today)
        let settings = try PenaltySettings(
            settings: connection.query(
                """
                SELECT s.key, s.value FROM encours.tenants t, jsonb_each_text(t.settings) s
                WHERE t.id = (SELECT encours.current_tenant_id())
                  AND (s.key = 'penalty_margin_points' OR s.key LIKE 'recovery\\_indemnity%')
                """
            ).rows.map { (key: try $0.decode(0, as: String.self), value: try $0.decode(1, as: String.self)) })

        var timer = PhaseTimer()
        try plan(asOf: asOf, on: connection)
        timer.end("plan")
        try chargePenalties(asOf: asOf, settings: settings, on: connection)
        timer.end("penalties")

        let counts = try connection.query(
            "SELECT (SELECT count(*) FROM dunning_groups), (SELECT count(*) FROM dunning_plan WHERE moves)")
        let reminderCount = try counts.decode(Int.self, row: 0, column: 0)
        let moved = try counts.decode(Int.self, row: 0, column: 1)
        if dryRun {
            return Outcome(
                asOf: asOf, runID: nil, recorded: [], reminders: try ReminderView.planned(asOf: asOf, on: connection),
                invoicesMoved: moved, reminderCount: reminderCount, phases: timer.phases)
        }
        guard reminderCount > 0 else {
            return Outcome(asOf: asOf, runID: nil, recorded: [], reminders: [], invoicesMoved: 0, reminderCount: 0, phases: timer.phases)
        }
        let (runID, recorded) = try record(asOf: asOf, jobID: jobID, reminders: reminderCount, moved: moved, on: connection)
        timer.end("record")
        return Outcome(
            asOf: asOf, runID: runID, recorded: recorded,
            reminders: listReminders ? try ReminderView.list(runID: runID, on: connection) : [],
            invoicesMoved: moved, reminderCount: reminderCount, phases: timer.phases)
    }

    /// Builds `dunning_plan` (every invoice a reminder lists) and `dunning_groups` (one row per reminder).
    @available(*, noasync)
    static func plan(asOf: CalendarDate, on connection: PostgresConnection) throws {
        try connection.query(
            """
            CREATE TEMPORARY TABLE dunning_plan ON COMMIT DROP AS
            WITH customer_policy AS (
                -- A customer naming a policy the tenant does not have is dunned by `standard`; one
                -- the risk recalculation moved to `strict` (graded D or E) is dunned by that policy.
                SELECT c.customer_id, coalesce(s.name, p.name, 'standard') AS policy
                FROM encours.customers c
                LEFT JOIN encours.dunning_policies p ON p.tenant_id = c.tenant_id AND p.name = c.policy
                LEFT JOIN encours.customer_risk r ON r.tenant_id = c.tenant_id AND r.customer_id = c.customer_id AND r.strict_policy
                LEFT JOIN encours.dunning_policies s ON s.tenant_id = c.tenant_id AND s.name = 'strict' AND r.strict_policy
                WHERE NOT c.on_hold
            ),
            eligible AS (
                SELECT b.invoice_id, b.customer_id, b.currency, b.issue_date, b.due_date, b.amount_cents, b.balance_cents,
                       coalesce(dp.level, 0) AS dunning_level, dp.level_reached_on, cp.policy
                FROM encours.invoice_balances b
                JOIN customer_policy cp ON cp.customer_id = b.customer_id
                LEFT JOIN encours.invoice_dunning dp ON dp.tenant_id = b.tenant_id AND dp.invoice_id = b.invoice_id
                WHERE b.balance_cents > 0
                  AND NOT EXISTS (
                      SELECT FROM encours.disputes d
                      WHERE d.tenant_id = b.tenant_id AND d.invoice_id = b.invoice_id AND d.status <> 'resolved')
                  AND NOT EXISTS (
                      SELECT FROM encours.promises pr
                      WHERE pr.tenant_id = b.tenant_id AND pr.customer_id = b.customer_id
                        AND (pr.invoice_id IS NULL OR pr.invoice_id = b.invoice_id) AND pr.promised_for >= $1::date)
            ),
            moves AS (
                SELECT e.*, pol.min_amount_cents, next.level AS next_level,
                       coalesce(next.level IS NOT NULL
                           AND $1::date - e.due_date >= next.days_after_due
                           AND (e.dunning_level = 0 OR e.level_reached_on IS NULL
                                OR (e.level_reached_on < $1::date
                                    AND $1::date - e.level_reached_on >= pol.min_days_between_reminders)), false) AS moves
                FROM eligible e
                JOIN encours.dunning_policies pol ON pol.name = e.policy
                LEFT JOIN encours.dunning_levels next ON next.policy = e.policy AND next.level = e.dunning_level + 1
            ),
            listed AS (
                SELECT m.*, CASE WHEN m.moves THEN m.next_level ELSE m.dunning_level END AS new_level
                FROM moves m
                WHERE m.moves OR $1::date > m.due_date
            ),
            groups AS (
                SELECT customer_id, currency, max(new_level) AS reminder_level, sum(balance_cents) AS total_balance_cents
                FROM listed
                GROUP BY customer_id, currency
                HAVING bool_or(moves) AND sum(balance_cents) >= max(min_amount_cents)
            )
            SELECT l.invoice_id, l.customer_id, l.currency, l.issue_date, l.due_date, l.amount_cents, l.balance_cents,
                   l.dunning_level AS previous_level, l.new_level, l.moves, ($1::date - l.due_date) AS days_overdue,
                   l.policy, g.reminder_level, g.total_balance_cents,
                   0::bigint AS interest_cents, 0::bigint AS indemnity_cents
            FROM listed l
            JOIN groups g ON g.customer_id = l.customer_id AND g.currency = l.currency
            """, [asOf.isoString])
        // One row per reminder: the level's channel and template come from the customer's policy
        // (the highest level it has up to the reminder's, should the policy have lost levels).
        try connection.execute(
            """
            CREATE TEMPORARY TABLE dunning_groups ON COMMIT DROP AS
            SELECT g.customer_id, g.currency, g.policy, c.language, nullif(btrim(c.email), '') AS email, g.reminder_level AS level,
                   g.total_balance_cents, l.template,
                   CASE WHEN l.channel = 'email' AND nullif(btrim(c.email), '') IS NULL THEN 'letter' ELSE l.channel END AS channel,
                   l.charge_penalties, 0::bigint AS interest_cents, 0::bigint AS indemnity_cents
            FROM (
                SELECT customer_id, currency, policy, reminder_level, total_balance_cents
                FROM dunning_plan
                GROUP BY customer_id, currency, policy, reminder_level, total_balance_cents
            ) g
            JOIN encours.customers c ON c.tenant_id = (SELECT encours.current_tenant_id()) AND c.customer_id = g.customer_id
            CROSS JOIN LATERAL (
                SELECT dl.template, dl.channel, dl.charge_penalties FROM encours.dunning_levels dl
                WHERE dl.policy = g.policy AND dl.level <= g.reminder_level
                ORDER BY dl.level DESC LIMIT 1
            ) l;
            ANALYZE dunning_groups
            """)
    }

    /// Computes interest and indemnities for the invoices of reminders whose level charges penalties.
    @available(*, noasync)
    static func chargePenalties(asOf: CalendarDate, settings: PenaltySettings, on connection: PostgresConnection) throws {
        let items = try connection.query(
            """
            SELECT p.invoice_id, p.amount_cents, p.due_date::text, p.currency,
                   string_agg(r.on_date::text || ':' || r.cents::text, ',') AS reductions
            FROM dunning_plan p
            JOIN dunning_groups g ON g.customer_id = p.customer_id AND g.currency = p.currency
            LEFT JOIN (
                SELECT invoice_id, received_on AS on_date, amount_cents AS cents FROM encours.payments
                WHERE invoice_id IS NOT NULL AND received_on <= $1::date
                UNION ALL
                SELECT applies_to, issue_date, amount_cents FROM encours.invoices
                WHERE applies_to IS NOT NULL AND issue_date <= $1::date
            ) r ON r.invoice_id = p.invoice_id
            WHERE g.charge_penalties AND p.days_overdue > 0
            GROUP BY p.invoice_id, p.amount_cents, p.due_date, p.currency
            """, [asOf.isoString])
        guard items.count > 0 else { return }
        let rates = try ECBRates.history(on: connection)
        var ids: [String] = []
        var interest: [Int64] = []
        var indemnity: [Int64] = []
        ids.reserveCapacity(items.count)
        interest.reserveCapacity(items.count)
        indemnity.reserveCapacity(items.count)
        for row in 0..<items.count {
            let invoiceID = try items.decode(String.self, row: row, column: 0)
            var reductions: [LatePenalty.Reduction] = []
            if let text = items.text(row: row, column: 4) {
                for part in text.split(separator: ",") {
                    let pieces = part.split(separator: ":")
                    guard pieces.count == 2, let cents = Int64(pieces[1]) else { continue }
                    reductions.append(LatePenalty.Reduction(date: try CalendarDate(parsing: String(pieces[0])), cents: cents))
                }
            }
            let charged: LatePenalty.Interest
            do {
                charged = try LatePenalty.interest(
                    amountCents: try items.decode(Int64.self, row: row, column: 1),
                    dueDate: try CalendarDate(parsing: try items.decode(String.self, row: row, column: 2)),
                    asOf: asOf, reductions: reductions, rates: rates, marginHundredths: settings.marginHundredths)
            } catch {
                throw LedgerStoreError("invoice \(invoiceID): \(error)")
            }
            ids.append(invoiceID)
            interest.append(charged.cents)
            indemnity.append(settings.indemnityCents[try items.decode(String.self, row: row, column: 3)] ?? 0)
        }
        try connection.query(
            """
            UPDATE dunning_plan p SET interest_cents = u.interest, indemnity_cents = u.indemnity
            FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u (invoice_id, interest, indemnity)
            WHERE p.invoice_id = u.invoice_id
            """, [ids, interest, indemnity])
        try connection.execute(
            """
            UPDATE dunning_groups g SET interest_cents = s.interest, indemnity_cents = s.indemnity
            FROM (
                SELECT customer_id, currency, sum(interest_cents) AS interest, sum(indemnity_cents) AS indemnity
                FROM dunning_plan WHERE interest_cents > 0 OR indemnity_cents > 0
                GROUP BY customer_id, currency
            ) s
            WHERE g.customer_id = s.customer_id AND g.currency = s.currency
            """)
    }

    /// Writes the run, its reminders and items, and the invoices' new levels.
    @available(*, noasync)
    static func record(
        asOf: CalendarDate, jobID: Int64?, reminders: Int, moved: Int, on connection: PostgresConnection
    ) throws -> (Int64, [RecordedReminder]) {
        let runID = try connection.query(
            """
            INSERT INTO encours.dunning_runs (tenant_id, as_of, job_id, reminders, invoices_moved)
            VALUES ((SELECT encours.current_tenant_id()), $1::date, $2, $3, $4)
            RETURNING run_id
            """, [asOf.isoString, jobID, reminders, moved]
        ).decode(Int64.self, row: 0, column: 0)
        let inserted = try connection.query(
            """
            INSERT INTO encours.reminders (
                tenant_id, run_id, customer_id, currency, as_of, level, policy, template, channel, language, recipient,
                charge_penalties, total_balance_cents, interest_cents, indemnity_cents)
            SELECT (SELECT encours.current_tenant_id()), $1, g.customer_id, g.currency, $2::date, g.level, g.policy, g.template,
                   g.channel, g.language, CASE WHEN g.channel = 'email' THEN g.email END,
                   g.charge_penalties, g.total_balance_cents, g.interest_cents, g.indemnity_cents
            FROM dunning_groups g
            ORDER BY g.customer_id, g.currency
            RETURNING reminder_id, channel
            """, [runID, asOf.isoString])
        var recorded: [RecordedReminder] = []
        recorded.reserveCapacity(inserted.count)
        for row in 0..<inserted.count {
            recorded.append(
                RecordedReminder(id: try inserted.decode(Int64.self, row: row, column: 0), channel: try inserted.decode(String.self, row: row, column: 1)))
        }
        recorded.sort { $0.id < $1.id }
        try connection.query(
            """
            INSERT INTO encours.reminder_items (
                tenant_id, reminder_id, invoice_id, level, previous_level, issue_date, due_date, amount_cents, balance_cents,
                days_overdue, interest_cents, indemnity_cents)
            SELECT r.tenant_id, r.reminder_id, p.invoice_id, p.new_level, p.previous_level, p.issue_date, p.due_date,
                   p.amount_cents, p.balance_cents, p.days_overdue, p.interest_cents, p.indemnity_cents
            FROM dunning_plan p
            JOIN encours.reminders r ON r.run_id = $1 AND r.customer_id = p.customer_id AND r.currency = p.currency
            WHERE r.tenant_id = (SELECT encours.current_tenant_id())
            """, [runID])
        try connection.query(
            """
            UPDATE encours.invoice_dunning d SET level = p.new_level, level_reached_on = $1::date
            FROM dunning_plan p
            WHERE d.tenant_id = (SELECT encours.current_tenant_id()) AND d.invoice_id = p.invoice_id AND p.moves AND p.previous_level > 0
            """, [asOf.isoString])
        // Level 0 has no row (the ledger lock keeps another run from adding one meanwhile): a
        // plain insert, without the cost of ON CONFLICT on a first run's million rows.
        try connection.query(
            """
            INSERT INTO encours.invoice_dunning (tenant_id, invoice_id, level, level_reached_on)
            SELECT (SELECT encours.current_tenant_id()), p.invoice_id, p.new_level, $1::date
            FROM dunning_plan p WHERE p.moves AND p.previous_level = 0
            """, [asOf.isoString])
        try Audit.record(
            action: "dunning_run", entity: "dunning_run", id: String(runID),
            details: ["as_of": asOf.isoString, "reminders": String(reminders), "invoices_moved": String(moved), "job_id": jobID.map(String.init) ?? ""],
            on: connection)
        return (runID, recorded)
    }
}
