import ArgumentParser
import EncoursAdmin
import EncoursLedger
import EncoursLedgerStore
import Foundation

struct DisputesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disputes", abstract: "Invoice disputes: open, resolve, list, show, escalate.",
        subcommands: [Open.self, Resolve.self, List.self, Show.self, Escalate.self, Notifications.self])

    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a dispute on an invoice today, at tier 1 (keeps the invoice out of dunning).",
            discussion: "Reasons: \(DisputeReason.codeList) (or their French names: prix, qualité, quantité, non reçu, doublon, autre).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "Invoice id.") var invoice: String
        @Option(help: "Reason code: \(DisputeReason.codeList).") var reason: String
        @Option(help: "What the customer said (free text).") var note: String?
        @Option(help: "Amount disputed (default: the invoice balance).") var amount: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, invoice, reason, note, amount) = (self.tenant, self.invoice, self.reason, self.note, self.amount)
            let dispute = try await database.run {
                try DisputeAdmin.open(tenantSlug: tenant, invoiceID: invoice, reason: reason, note: note, amount: amount, on: $0)
            }
            if json { try printJSON(dispute); return }
            print("dispute \(dispute.id) opened on invoice \(dispute.invoiceID) (\(dispute.reason)), tier 1 due \(dispute.deadline ?? "-")")
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve a dispute: credit_note (a credit note reduces the invoice), upheld or withdrawn (back into dunning).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Argument(help: "Dispute id.") var id: String
        @Option(help: "credit_note, upheld or withdrawn.") var outcome: String
        @Option(help: "The credit note's amount (credit_note only; default: the disputed amount, or the whole balance).") var amount: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, id, outcome, amount) = (self.tenant, self.id, self.outcome, self.amount)
            let resolution = try await database.run {
                try DisputeAdmin.resolve(tenantSlug: tenant, disputeID: id, outcome: outcome, amount: amount, on: $0)
            }
            if json { try printJSON(resolution); return }
            let credit = resolution.creditNoteID.map { " with credit note \($0) of \(resolution.creditedAmount ?? "") \(resolution.currency)" } ?? ""
            print("dispute \(id) resolved (\(outcome))\(credit); invoice \(resolution.dispute.invoiceID) balance \(resolution.invoiceBalance) \(resolution.currency)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List disputes, oldest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "open, escalated or resolved.") var status: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, status) = (self.tenant, self.status)
            let disputes = try await database.run { try DisputeAdmin.list(tenantSlug: tenant, status: status, on: $0) }
            if json { try printJSON(disputes); return }
            print(Output.table(["ID", "INVOICE", "STATUS", "TIER", "DEADLINE", "BREACHED", "OUTCOME", "OPENED_ON", "REASON"],
                disputes.map { [$0.id, $0.invoiceID, $0.status, String($0.tier), $0.deadline ?? "-", $0.breached ? "yes" : "no", $0.outcome ?? "-", $0.openedOn, $0.reason] }))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dispute: its invoice, its tier and its whole history.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Argument(help: "Dispute id.") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, id) = (self.tenant, self.id)
            let detail = try await database.run { try DisputeAdmin.show(tenantSlug: tenant, disputeID: id, on: $0) }
            if json { try printJSON(detail); return }
            let dispute = detail.dispute
            print("""
                dispute \(dispute.id): \(dispute.status)\(dispute.outcome.map { " (\($0))" } ?? ""), tier \(dispute.tier) \(detail.tierName)\
                \(dispute.breached ? ", breached" : ""), deadline \(dispute.deadline ?? "-")
                invoice \(dispute.invoiceID) of \(detail.customerName) (\(detail.customerID)): \(detail.invoiceAmount) \(detail.currency), \
                balance \(detail.invoiceBalance), due \(detail.dueDate), dunning level \(detail.dunningLevel)
                reason \(dispute.reason)\(dispute.amount.map { ", disputed \($0) \(detail.currency)" } ?? ", the whole balance disputed"), \
                opened \(dispute.openedOn)\(dispute.note.map { "\nnote: \($0)" } ?? "")
                """)
            print(Output.table(["AT", "EVENT", "TIER", "DEADLINE", "OUTCOME", "AMOUNT", "ACTOR"],
                detail.events.map { [$0.at, $0.kind, "\($0.tier)\($0.tierName.map { " \($0)" } ?? "")", $0.deadline ?? "-", $0.outcome ?? "-", $0.amount ?? "-", $0.actor] }))
        }
    }

    struct Escalate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enqueue a disputes.escalate job: overdue disputes move one tier up (or are marked breached at the last).",
            discussion: """
                --at is ISO 8601 (2026-12-03, 2026-12-03T09:00, 2026-12-03T08:00:00Z); without an offset it is read in the \
                tenant's time zone; default: now. The same instant still waiting is not enqueued twice. With --wait, exit 0 \
                only if the job completed.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "The instant T of the escalation (default: now).") var at: String?
        @Flag(help: "Wait until the job ends and print its outcome.") var wait = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, at) = (self.tenant, self.at)
            let queued = try await database.run { try DisputeAdmin.enqueueEscalation(tenantSlug: tenant, at: at, on: $0) }
            guard wait else {
                if json { try printJSON(queued); return }
                print("dispute escalation of \(tenant) at \(queued.at): job \(queued.jobID)\(queued.alreadyQueued ? " (already queued)" : " enqueued")")
                return
            }
            let job = try await database.waitForJob(queued.jobID)
            let recorded = job.state == .completed
                ? try await database.run { try DisputeAdmin.recordedEscalation(jobID: queued.jobID, tenantID: queued.tenantID, on: $0) } : nil
            if json {
                try printJSON(WaitOutcome(
                    job: job, dates: [("at", queued.at), ("on_date", recorded?.1)], recorded: ("escalation_id", recorded?.0),
                    counts: [("escalated", recorded?.2 ?? 0), ("breached", recorded?.3 ?? 0), ("notifications", recorded?.4 ?? 0)]))
            } else if job.state == .completed {
                if let recorded {
                    print("job \(job.id) completed: disputes of \(tenant) at \(queued.at) (\(recorded.1)): \(recorded.2) escalated, "
                        + "\(recorded.3) breached, \(recorded.4) notification\(recorded.4 == 1 ? "" : "s")")
                } else {
                    print("job \(job.id) completed: no dispute of \(tenant) was due at \(queued.at)")
                }
            } else {
                print("job \(job.id) \(job.state.rawValue)\(job.errors.last.map { ": \($0.error)" } ?? "")")
            }
            if job.state != .completed { throw ExitCode(1) }
        }
    }

    struct Notifications: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The notifications escalations sent the tiers, newest first, with their status.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, limit) = (self.tenant, self.limit)
            let views = try await database.run { try DisputeAdmin.notifications(tenantSlug: tenant, limit: limit, on: $0) }
            try printNotifications(views, source: "ESCALATION", json: json)
        }
    }
}

/// Prints notifications to the tenant (risk alerts, escalations) as JSON or a table whose second
/// column is what sent each (`source`: the recalculation or the escalation run).
func printNotifications(_ views: [NotificationStore.View], source: String, json: Bool) throws {
    if json { try printJSON(views); return }
    print(Output.table(["ID", source, "CHANNEL", "RECIPIENT", "STATUS", "SUBJECT"],
        views.map { [String($0.id), String($0.sourceID), $0.channel, $0.recipient, $0.status + ($0.failureReason.map { ": \($0)" } ?? ""), $0.subject] }))
}
