import EncoursLedger
import EncoursPostgres
import EncoursTenancy
import Foundation

/// One `disputes.escalate` at an instant T in the current tenant's scope (SPEC §7).
///
/// Under the tenant's ledger lock (so a resolution or an import in flight finishes first, and two
/// escalations never move the same dispute twice), it reads the unresolved disputes whose deadline
/// is before T's date in the tenant's time zone, applies ``DisputeEscalation`` to each, and
/// writes with one statement each: the run, the disputes' new tiers and deadlines (or breach),
/// their events, and the notifications to the tiers. Running it again at the same T finds nothing
/// to do and writes nothing.
public enum DisputeEscalationRun {
    /// What a run did.
    public struct Outcome: Sendable {
        /// T, normalized to UTC (`2026-12-03T09:00:00Z`).
        public var at: String
        /// T's date in the tenant's time zone.
        public var onDate: CalendarDate
        /// The run's id; nil when nothing was due.
        public var escalationID: Int64?
        public var escalated: Int
        public var breached: Int
        /// Notifications written as `pending`, one `reminder.deliver` job each.
        public var notificationIDs: [Int64]
        /// Notifications that could not be addressed (a tier notifying by webhook without a
        /// `webhook_url`), written as `failed` with the reason.
        public var unaddressed: Int
        /// How long each phase took (select, plan, record, notify), for logs and benchmarks.
        public var phases: [(name: String, duration: Duration)] = []
    }

    /// Escalates the current tenant's disputes at `at` (without an offset: in the tenant's time zone).
    ///
    /// `compose` writes a tier's notification text from its disputes (the caller knows the languages).
    @available(*, noasync)
    public static func perform(
        at: EscalationInstant, jobID: Int64?, compose: ([DisputeEscalationNotice]) -> NotificationText, on connection: PostgresConnection
    ) throws -> Outcome {
        var timer = PhaseTimer()
        try TenantScope.lockLedger(on: connection)
        let tenant = try connection.query(
            """
            SELECT to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), (t.at AT TIME ZONE timezone)::date::text, locale,
                   nullif(btrim(settings ->> 'webhook_url'), '')
            FROM encours.tenants
            CROSS JOIN LATERAL (SELECT CASE WHEN $2 THEN $1::timestamptz ELSE $1::timestamp AT TIME ZONE timezone END AS at) t
            WHERE id = (SELECT encours.current_tenant_id())
            """, [at.text, at.hasOffset])
        guard tenant.count == 1 else { throw LedgerStoreError("the tenant of this scope does not exist") }
        let instant = try tenant.decode(String.self, row: 0, column: 0)
        let onDate = try CalendarDate(parsing: tenant.decode(String.self, row: 0, column: 1))
        let language = try tenant.decode(String.self, row: 0, column: 2)
        let webhookURL = tenant.text(row: 0, column: 3)
        let rule = try Disputes.escalationRule(on: connection)
        let lastTier = rule.policy.tiers.count

        // Candidates: unresolved, due before T's date (or never given a deadline), not already
        // breached at the last tier. Locked, so a resolution waits for this run (and the ledger
        // lock already keeps other writers out).
        let due = try connection.query(
            """
            SELECT d.dispute_id, d.invoice_id, d.tier, d.deadline::text, d.opened_on::text, d.breached, d.reason, d.amount_cents,
                   i.customer_id, c.name, i.amount_cents, i.currency
            FROM encours.disputes d
            JOIN encours.invoices i ON i.tenant_id = d.tenant_id AND i.invoice_id = d.invoice_id
            JOIN encours.customers c ON c.tenant_id = i.tenant_id AND c.customer_id = i.customer_id
            WHERE d.status <> 'resolved' AND (d.deadline < $1::date OR d.deadline IS NULL)
              AND NOT (d.breached AND d.tier >= $2)
            ORDER BY d.deadline NULLS FIRST, d.dispute_id
            FOR UPDATE OF d
            """, [onDate.isoString, lastTier])
        timer.end("select")
        let day = try DisputeEscalation.Day(rule, onDate)

        var notices: [DisputeEscalationNotice] = []
        for row in due.rows {
            let state = DisputeEscalation.State(
                tier: try row.decode(2), deadline: try row.decode(3, as: String?.self).map(CalendarDate.init(parsing:)),
                openedOn: try CalendarDate(parsing: row.decode(4)), breached: try row.decode(5))
            let step = try day.step(state)
            let tier: Int, deadline: CalendarDate?, breached: Bool
            switch step {
            case .none: continue
            case .escalate(let next, let newDeadline): (tier, deadline, breached) = (next, newDeadline, false)
            case .breach: (tier, deadline, breached) = (state.tier, state.deadline, true)
            }
            notices.append(DisputeEscalationNotice(
                disputeID: try row.decode(0), invoiceID: try row.decode(1), customerID: try row.decode(8), customerName: try row.decode(9),
                reason: DisputeReason(rawValue: try row.decode(6)) ?? .other, amountCents: try row.decode(7),
                invoiceAmountCents: try row.decode(10), currency: try CurrencyCode(row.decode(11)),
                openedOn: state.openedOn, tier: tier, tierName: rule.tier(tier).name, deadline: deadline, breached: breached,
                onDate: onDate, language: language))
        }
        timer.end("plan")
        guard !notices.isEmpty else {
            return Outcome(
                at: instant, onDate: onDate, escalationID: nil, escalated: 0, breached: 0, notificationIDs: [], unaddressed: 0,
                phases: timer.phases)
        }

        let breachedCount = notices.filter(\.breached).count
        let escalationID = try connection.query(
            """
            INSERT INTO encours.dispute_escalations (tenant_id, job_id, at, on_date, escalated, breached)
            VALUES ((SELECT encours.current_tenant_id()), $1, $2::timestamptz, $3::date, $4, $5)
            RETURNING escalation_id
            """, [jobID, instant, onDate.isoString, notices.count - breachedCount, breachedCount]
        ).decode(Int64.self, row: 0, column: 0)
        let messages = try notifications(
            for: notices, escalationID: escalationID, at: instant, rule: rule, webhookURL: webhookURL, compose: compose)

        let ids = notices.map(\.disputeID)
        let tiers = notices.map(\.tier)
        let deadlines = notices.map { $0.deadline?.isoString }
        let breaches = notices.map(\.breached)
        try connection.query(
            """
            UPDATE encours.disputes d
            SET tier = u.tier, deadline = u.deadline,
                status = CASE WHEN u.breached THEN d.status ELSE 'escalated' END,
                breached = d.breached OR u.breached, updated_at = now()
            FROM unnest($1::text[], $2::int[], $3::date[], $4::bool[]) AS u (dispute_id, tier, deadline, breached)
            WHERE d.tenant_id = (SELECT encours.current_tenant_id()) AND d.dispute_id = u.dispute_id
            """, [ids, tiers, deadlines, breaches])
        try connection.query(
            """
            INSERT INTO encours.dispute_events (tenant_id, dispute_id, kind, tier, tier_name, deadline, escalation_id, at)
            SELECT (SELECT encours.current_tenant_id()), u.dispute_id, CASE WHEN u.breached THEN 'breached' ELSE 'escalated' END,
                   u.tier, u.tier_name, u.deadline, $6, $7::timestamptz
            FROM unnest($1::text[], $2::int[], $3::date[], $4::bool[], $5::text[]) WITH ORDINALITY
                 AS u (dispute_id, tier, deadline, breached, tier_name, position)
            ORDER BY u.position
            """, [ids, tiers, deadlines, breaches, notices.map(\.tierName), escalationID, instant])

        timer.end("record")
        var pending: [Int64] = []
        if !messages.isEmpty {
            let written = try connection.query(
                """
                INSERT INTO encours.notifications
                    (tenant_id, source, source_id, part, channel, recipient, subject, text_body, payload, status, failure_reason)
                SELECT (SELECT encours.current_tenant_id()), 'dispute_escalation', $1, u.part, u.channel, u.recipient, u.subject, u.body,
                       u.payload::jsonb, CASE WHEN u.failure IS NULL THEN 'pending' ELSE 'failed' END, u.failure
                FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[]) WITH ORDINALITY
                     AS u (channel, recipient, subject, body, payload, part, failure, position)
                ORDER BY u.position
                RETURNING notification_id, status
                """,
                [
                    escalationID, messages.map(\.channel), messages.map(\.recipient), messages.map(\.subject), messages.map(\.text),
                    messages.map(\.payload), messages.map(\.part), messages.map(\.failure),
                ])
            for index in 0..<written.count where try written.decode(String.self, row: index, column: 1) == "pending" {
                pending.append(try written.decode(Int64.self, row: index, column: 0))
            }
        }
        timer.end("notify")
        return Outcome(
            at: instant, onDate: onDate, escalationID: escalationID, escalated: notices.count - breachedCount, breached: breachedCount,
            notificationIDs: pending, unaddressed: messages.count - pending.count, phases: timer.phases)
    }

    /// A notification to write.
    struct Message {
        var channel: String
        var recipient: String
        var subject: String
        var text: String
        var payload: String?
        var part: Int
        var failure: String?
    }

    /// The notifications of a run: for each tier that notifies someone, an email listing its
    /// disputes, or one signed webhook event per ``DisputeEscalationNotice/maximumPerNotification``.
    static func notifications(
        for notices: [DisputeEscalationNotice], escalationID: Int64, at: String, rule: DisputeEscalation, webhookURL: String?,
        compose: ([DisputeEscalationNotice]) -> NotificationText
    ) throws -> [Message] {
        var messages: [Message] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for tierNumber in Set(notices.map(\.tier)).sorted() {
            let tier = rule.tier(tierNumber)
            guard let notify = tier.notify else { continue }
            let group = notices.filter { $0.tier == tierNumber }
            let text = compose(group)
            if notify.hasPrefix("email:") {
                messages.append(Message(
                    channel: "email", recipient: String(notify.dropFirst("email:".count)), subject: text.subject, text: text.text,
                    payload: nil, part: 0, failure: nil))
                continue
            }
            let size = DisputeEscalationNotice.maximumPerNotification
            let parts = (group.count + size - 1) / size
            for part in 0..<parts {
                let slice = Array(group[(part * size)..<min(group.count, (part + 1) * size)])
                struct Event: Encodable {
                    var event = "disputes.escalated"
                    var escalation_id: Int64
                    var at: String
                    var on_date: String
                    var tier: Int
                    var tier_name: String
                    var total: Int
                    var part: Int
                    var parts: Int
                    var disputes: [DisputeEscalationNotice]
                }
                let body = String(decoding: try encoder.encode(Event(
                    escalation_id: escalationID, at: at, on_date: slice[0].onDate.isoString, tier: tierNumber, tier_name: tier.name, total: group.count, part: part + 1,
                    parts: parts, disputes: slice)), as: UTF8.self)
                messages.append(Message(
                    channel: "webhook", recipient: webhookURL ?? "", subject: parts > 1 ? "\(text.subject) (\(part + 1)/\(parts))" : text.subject,
                    text: text.text, payload: body, part: part,
                    failure: webhookURL == nil
                        ? "tier \(tier.name) notifies by webhook but the tenant has no webhook_url (encours tenant set SLUG webhook_url URL)" : nil))
            }
        }
        return messages
    }
}
