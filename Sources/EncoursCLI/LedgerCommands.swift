import ArgumentParser
import EncoursAdmin
import EncoursLedgerStore
import EncoursRuntime
import Foundation

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a CSV file of customers, invoices, payments or disputes (whole or not at all).",
        discussion: "Errors are listed as FILE:LINE: FIELD: problem, and nothing is changed. Re-importing an id updates it.")
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "customers, invoices, payments or disputes.") var kind: String
    @Option(help: "Tenant slug.") var tenant: String
    @Argument(help: "The CSV file.") var file: String
    @Flag(name: .customLong("dry-run"), help: "Validate only; change nothing.") var dryRun = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let (kind, tenant, file, dryRun) = (self.kind, self.tenant, self.file, self.dryRun)
        let outcome: LedgerImport.Outcome
        let line = ProgressLine("importing \(file)", json: json)
        let estimate = ProgressLine.estimatedRows(ofFile: file)
        do {
            defer { line.finish() }
            outcome = try await database.perform {
                try LedgerAdmin.importFile(
                    kind: kind, tenantSlug: tenant, path: file, dryRun: dryRun,
                    progress: { line.update(done: $0, total: estimate, unit: "rows") }, on: $0)
            }
        } catch let rejected as LedgerImport.Rejected {
            let lines = rejected.description.split(separator: "\n", omittingEmptySubsequences: false).map { ErrorMessage.terminalSafe(String($0)) }
            FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            let count = rejected.issues.totalCount
            FileHandle.standardError.write(
                Data("encours: \(ErrorMessage.terminalSafe(file)): \(count) problem\(count == 1 ? "" : "s"); nothing was imported\n".utf8))
            throw ExitCode(1)
        } catch {
            fail(error)
        }
        if json { try printJSON(outcome); return }
        let verb = outcome.dryRun ? "would import" : "imported"
        print("\(file): \(verb) \(outcome.rows) \(outcome.kind): \(outcome.inserted) new, \(outcome.updated) updated, \(outcome.unchanged) unchanged")
    }
}

struct PromisesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "promises", abstract: "Promises to pay.", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a promise to pay (it pauses dunning until its date).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "Customer id.") var customer: String
        @Option(help: "Amount promised, e.g. 1 234,56.") var amount: String
        @Option(help: "Date promised: YYYY-MM-DD or DD/MM/YYYY.") var date: String
        @Option(help: "The invoice it covers (default: all of the customer's).") var invoice: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, customer, amount, date, invoice) = (self.tenant, self.customer, self.amount, self.date, self.invoice)
            let promise = try await database.run {
                try LedgerAdmin.addPromise(tenantSlug: tenant, customerID: customer, amount: amount, date: date, invoiceID: invoice, on: $0)
            }
            if json { try printJSON(promise); return }
            print("promise \(promise.id): \(promise.customerID) pays \(promise.amount) \(promise.currency) by \(promise.date)")
        }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Receivables reports.", subcommands: [Aging.self, DSO.self])

    struct Aging: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open balances by days past due: current, 1-30, 31-60, 61-90, over 90.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(name: .customLong("as-of"), help: "Date of the report (default: today in the tenant's time zone).") var asOf: String?
        @Option(help: "Currency (default: the tenant's).") var currency: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, asOf, currency) = (self.tenant, self.asOf, self.currency)
            let report = try await database.run { try LedgerAdmin.aging(tenantSlug: tenant, asOf: asOf, currency: currency, on: $0) }
            if json { try printJSON(report); return }
            print("aging at \(report.asOf), \(report.currency)")
            func cells(_ b: AgingReport.Buckets) -> [String] { [b.current, b.days1To30, b.days31To60, b.days61To90, b.over90] }
            print(Output.table(["CUSTOMER", "CURRENT", "1-30", "31-60", "61-90", "OVER 90"],
                report.customers.map { [$0.customerID] + cells($0.buckets) } + [["TOTAL"] + cells(report.totals)]))
        }
    }
}
