import EncoursLedger
import EncoursPostgres
import EncoursReminders
import EncoursTenancy
import Foundation

/// What the demo did, read back from the database in the tenant's scope, for a finance admin.
public struct DemoSummary: Sendable {
    public struct Level: Sendable {
        public var level: Int
        public var template: String
        public var reminders: Int
        public var balanceCents: Int64
        public var interestCents: Int64
        public var indemnityCents: Int64
    }

    public struct Risk: Sendable {
        public var customerID: String
        public var name: String
        public var score: Int
        public var grade: String
        public var overdueCents: Int64
        public var recommendation: String
    }

    public var today: String
    public var customers: Int
    public var invoices: Int
    public var openCents: Int64
    public var overdueCents: Int64
    public var overdueInvoices: Int
    public var runDates: [String]
    public var levels: [Level]
    public var letters: Int
    public var outbox: String
    public var grades: [(grade: String, customers: Int)]
    public var topRisks: [Risk]
    public var escalationAt: String
    public var disputesOpen: Int
    public var escalated: [(tier: Int, disputes: Int)]
    public var breached: Int
    public var jobsByKind: [(kind: String, completed: Int, other: Int)]
    public var workers: Int
    public var seconds: Double

    @available(*, noasync)
    static func read(
        tenantID: Int64, today: String, runDates: [String], escalationAt: String, outbox: String, workers: Int, seconds: Double,
        on connection: PostgresConnection
    ) throws -> DemoSummary {
        try TenantScope.transaction(tenantID: tenantID, commit: false, on: connection) { connection in
            let ledger = try connection.query(
                """
                SELECT (SELECT count(*) FROM encours.customers), count(*),
                       coalesce(sum(balance_cents) FILTER (WHERE balance_cents > 0), 0)::bigint,
                       coalesce(sum(balance_cents) FILTER (WHERE balance_cents > 0 AND due_date < $1::date), 0)::bigint,
                       count(*) FILTER (WHERE balance_cents > 0 AND due_date < $1::date)
                FROM encours.invoice_balances
                """, [today])
            let levels = try connection.query(
                """
                SELECT level, template, count(*), sum(total_balance_cents)::bigint, sum(interest_cents)::bigint, sum(indemnity_cents)::bigint
                FROM encours.reminders GROUP BY level, template ORDER BY level, template
                """
            ).rows.map {
                Level(level: try $0.decode(0), template: try $0.decode(1), reminders: try $0.decode(2), balanceCents: try $0.decode(3),
                      interestCents: try $0.decode(4), indemnityCents: try $0.decode(5))
            }
            let grades = try connection.query("SELECT grade, count(*) FROM encours.customer_risk GROUP BY grade ORDER BY grade").rows.map {
                (grade: try $0.decode(0, as: String.self), customers: try $0.decode(1, as: Int.self))
            }
            let risks = try connection.query(
                """
                SELECT DISTINCT ON (s.customer_id) s.customer_id, c.name, s.score, s.grade, s.overdue_cents::bigint, s.recommendation
                FROM encours.risk_scores s JOIN encours.customers c ON c.tenant_id = s.tenant_id AND c.customer_id = s.customer_id
                ORDER BY s.customer_id, s.as_of DESC, s.recalc_id DESC
                """
            ).rows.map {
                Risk(customerID: try $0.decode(0), name: try $0.decode(1), score: try $0.decode(2), grade: try $0.decode(3),
                     overdueCents: try $0.decode(4), recommendation: try $0.decode(5))
            }.sorted { ($0.score, -$0.overdueCents, $0.customerID) < ($1.score, -$1.overdueCents, $1.customerID) }
            let disputes = try connection.query(
                "SELECT count(*) FILTER (WHERE status <> 'resolved'), count(*) FILTER (WHERE breached) FROM encours.disputes")
            let escalated = try connection.query(
                """
                SELECT e.tier, count(*) FROM encours.dispute_events e
                WHERE e.kind = 'escalated' GROUP BY e.tier ORDER BY e.tier
                """
            ).rows.map { (tier: try $0.decode(0, as: Int.self), disputes: try $0.decode(1, as: Int.self)) }
            let jobs = try connection.query(
                """
                SELECT kind, count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state <> 'completed')
                FROM encours.jobs GROUP BY kind ORDER BY kind
                """
            ).rows.map { (kind: try $0.decode(0, as: String.self), completed: try $0.decode(1, as: Int.self), other: try $0.decode(2, as: Int.self)) }
            let letterDirectory = outbox + "/" + Demo.tenantSlug
            let letters = ((try? FileManager.default.contentsOfDirectory(atPath: letterDirectory)) ?? []).filter { $0.hasSuffix(".html") }.count
            return DemoSummary(
                today: today, customers: try ledger.decode(Int.self, row: 0, column: 0), invoices: try ledger.decode(Int.self, row: 0, column: 1),
                openCents: try ledger.decode(Int64.self, row: 0, column: 2), overdueCents: try ledger.decode(Int64.self, row: 0, column: 3),
                overdueInvoices: try ledger.decode(Int.self, row: 0, column: 4), runDates: runDates, levels: levels, letters: letters,
                outbox: letterDirectory, grades: grades, topRisks: Array(risks.prefix(5)), escalationAt: escalationAt,
                disputesOpen: try disputes.decode(Int.self, row: 0, column: 0), escalated: escalated,
                breached: try disputes.decode(Int.self, row: 0, column: 1), jobsByKind: jobs, workers: workers, seconds: seconds)
        }
    }

    /// The summary as a finance admin reads it (amounts the French way).
    public func text() -> String {
        // Plain spaces: a terminal's columns count no-break spaces as wide on some fonts.
        func euros(_ cents: Int64) -> String {
            MoneyFormat.format(cents: cents, currency: Self.euro, language: .fr).replacingOccurrences(of: "\u{00A0}", with: " ")
                .replacingOccurrences(of: "\u{202F}", with: " ")
        }
        let names = ["friendly": "friendly reminder", "firm": "firm reminder", "formal_notice": "formal notice (mise en demeure)",
                     "collection_handoff": "collection hand-off"]
        var lines: [String] = []
        lines.append("Encours demo: Atelier Dupont SAS (tenant \(Demo.tenantSlug)), today \(today), Europe/Paris")
        lines.append("")
        lines.append("Ledger: \(customers) customers, \(invoices) invoices; open \(euros(openCents)), of which \(euros(overdueCents)) overdue on \(overdueInvoices) invoices")
        lines.append("")
        lines.append("Dunning: \(runDates.count) runs (\(runDates.joined(separator: ", "))), one level per run")
        lines.append("  level  reminders  balance          what")
        for level in levels {
            var what = names[level.template] ?? level.template
            if level.interestCents + level.indemnityCents > 0 {
                what += ", interest \(euros(level.interestCents)) + indemnities \(euros(level.indemnityCents))"
            }
            lines.append("  \(pad(String(level.level), 5))  \(pad(String(level.reminders), 9))  \(pad(euros(level.balanceCents), 15))  \(what)")
        }
        lines.append("  \(letters) letters written to \(outbox)/")
        lines.append("")
        lines.append("Credit risk: " + grades.map { "\($0.customers) \($0.grade)" }.joined(separator: ", "))
        lines.append("  customer  score  grade  overdue          recommendation  name")
        for risk in topRisks {
            lines.append(
                "  \(pad(risk.customerID, 8))  \(pad(String(risk.score), 5))  \(pad(risk.grade, 5))  \(pad(euros(risk.overdueCents), 15))  \(pad(risk.recommendation, 14))  \(risk.name)")
        }
        lines.append("")
        let moved = escalated.map { "tier \($0.tier): \($0.disputes)" }.joined(separator: ", ")
        lines.append("Disputes: \(disputesOpen) open; escalation at \(escalationAt): \(escalated.isEmpty ? "none due" : moved); \(breached) breached")
        lines.append("")
        let total = jobsByKind.reduce(0) { $0 + $1.completed }
        lines.append("Queue: \(total) jobs completed by \(workers) worker processes in \(String(format: "%.1f", seconds)) s")
        for kind in jobsByKind {
            lines.append("  \(pad(kind.kind, 18)) \(pad(String(kind.completed), 6)) completed" + (kind.other > 0 ? ", \(kind.other) not (waiting for a mail server)" : ""))
        }
        return lines.joined(separator: "\n")
    }

    static let euro = CurrencyCode.eur

    func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
