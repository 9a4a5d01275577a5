import ArgumentParser
import EncoursAdmin
import EncoursLedgerStore
import EncoursQueue
import Foundation

struct RiskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "risk", abstract: "Credit risk: recalculate scores, show them, list the alerts sent.",
        subcommands: [Recalc.self, Show.self, Alerts.self])

    struct Recalc: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enqueue a risk.recalc job for the tenant (or one customer) at a date.",
            discussion: "The same recalculation still waiting or running is not enqueued twice (its job is shown). With --wait, exit 0 only if the job completed.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "Only this customer.") var customer: String?
        @Option(name: .customLong("as-of"), help: "Date of the recalculation (default: today in the tenant's time zone).") var asOf: String?
        @Flag(help: "Wait until the job ends and print its outcome.") var wait = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, customer, asOf) = (self.tenant, self.customer, self.asOf)
            let queued = try await database.run { try RiskAdmin.enqueueRecalc(tenantSlug: tenant, customerID: customer, asOf: asOf, on: $0) }
            let scope = customer.map { "customer \($0) of \(tenant)" } ?? tenant
            guard wait else {
                if json { try printJSON(queued); return }
                print("risk recalculation of \(scope) at \(queued.asOf): job \(queued.jobID)\(queued.alreadyQueued ? " (already queued)" : " enqueued")")
                return
            }
            let job = try await database.waitForJob(queued.jobID)
            let recorded = job.state == .completed
                ? try await database.run { try RiskAdmin.recordedRecalc(jobID: queued.jobID, tenantID: queued.tenantID, on: $0) } : nil
            if json {
                try printJSON(WaitOutcome(
                    job: job, dates: [("as_of", queued.asOf)], recorded: ("recalc_id", recorded?.0),
                    counts: [("customers", recorded?.1 ?? 0), ("alerts", recorded?.2 ?? 0), ("policy_switches", recorded?.3 ?? 0)]))
            } else if job.state == .completed {
                print("job \(job.id) completed: risk of \(scope) at \(queued.asOf): \(recorded?.1 ?? 0) customer\(recorded?.1 == 1 ? "" : "s") scored, "
                    + "\(recorded?.2 ?? 0) alert\(recorded?.2 == 1 ? "" : "s"), \(recorded?.3 ?? 0) policy switch\(recorded?.3 == 1 ? "" : "es")")
            } else {
                print("job \(job.id) \(job.state.rawValue)\(job.errors.last.map { ": \($0.error)" } ?? "")")
            }
            if job.state != .completed { throw ExitCode(1) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Customers' latest scores, riskiest first, with the factors that explain them.",
            discussion: "With --history, every recalculation of the customer(s), newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "Only this customer.") var customer: String?
        @Flag(help: "Every recalculation, not only the latest.") var history = false
        @Option(help: "At most this many rows (default: all).") var limit: Int?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, customer, history, limit) = (self.tenant, self.customer, self.history, self.limit)
            let views = try await database.run {
                try RiskAdmin.show(tenantSlug: tenant, customerID: customer, history: history, limit: limit, on: $0)
            }
            if json { try printJSON(views); return }
            func number(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }
            print(Output.table(
                ["CUSTOMER", "AS_OF", "SCORE", "GRADE", "EXPOSURE", "OVERDUE", "LIMIT USE", "DBT", "TREND", "DISPUTES", "BROKEN", "RECOMMENDATION", "FACTORS"],
                views.map { view in
                    [view.customerID, view.asOf, String(view.score), view.grade, view.exposure, view.overdue,
                     view.creditLimitUtilization.map { String(format: "%.0f%%", $0 * 100) } ?? "-", number(view.daysBeyondTerms),
                     number(view.daysBeyondTermsTrend), String(view.openDisputes), String(view.brokenPromises),
                     view.recommendation + (view.strictPolicy ? " (strict policy)" : ""),
                     view.factors.filter { $0.value != 0 }.sorted { $0.value < $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")]
                }))
        }
    }

    struct Alerts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The notifications risk alerts sent the tenant, newest first, with their status.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, limit) = (self.tenant, self.limit)
            let views = try await database.run { try RiskAdmin.notifications(tenantSlug: tenant, limit: limit, on: $0) }
            try printNotifications(views, source: "RECALC", json: json)
        }
    }
}

struct DSO: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dso",
        abstract: "DSO (countback, last three months), best possible DSO, average days delinquent and CEI (last month).")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Tenant slug.") var tenant: String
    @Option(name: .customLong("as-of"), help: "Date of the report (default: today in the tenant's time zone).") var asOf: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let (tenant, asOf) = (self.tenant, self.asOf)
        let report = try await database.run { try RiskAdmin.dso(tenantSlug: tenant, asOf: asOf, on: $0) }
        if json { try printJSON(report); return }
        func days(_ value: Double?) -> String { value.map { String(format: "%.1f days", $0) } ?? "undefined (no sales)" }
        print("receivables at \(report.asOf), \(report.currency): \(report.receivables) (not yet due: \(report.currentReceivables))")
        print("DSO (countback, 3 months):  \(days(report.dso))")
        print("best possible DSO:          \(days(report.bestPossibleDSO))")
        print("average days delinquent:    \(days(report.averageDaysDelinquent))")
        print("CEI (\(report.ceiPeriod.start) to \(report.ceiPeriod.end)):  \(report.cei.map { String(format: "%.1f %%", $0) } ?? "undefined")")
        print(Output.table(["MONTH", "DAYS", "CREDIT SALES"], report.months.map { ["\($0.start) to \($0.end)", String($0.days), $0.sales] }))
    }
}
