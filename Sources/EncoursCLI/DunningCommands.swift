import ArgumentParser
import EncoursAdmin
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue
import EncoursRuntime
import Foundation

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Dunning policies: levels, channels, templates.", subcommands: [Set.self, Show.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or replace a dunning policy from a JSON file (validated first; nothing changes on error).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Argument(help: "The policy document (JSON).") var file: String

        func run() async throws {
            let (tenant, file) = (self.tenant, self.file)
            let policy = try await database.run { try DunningAdmin.setPolicy(tenantSlug: tenant, path: file, on: $0) }
            print("policy \(policy.name) of \(tenant): \(policy.levels.count) level\(policy.levels.count == 1 ? "" : "s")")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the tenant's dunning policies.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let tenant = self.tenant
            let policies = try await database.run { try DunningAdmin.policies(tenantSlug: tenant, on: $0) }
            print(json ? "[" + policies.map(\.json).joined(separator: ",\n") + "]" : policies.map(\.json).joined(separator: "\n"))
        }
    }
}

struct TemplatesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "templates", abstract: "A tenant's own reminder templates (Mustache), by name and language.",
        subcommands: [Set.self, List.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or replace a template; a built-in name (friendly, firm, formal_notice, collection_handoff) overrides it.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Argument(help: "Template name.") var name: String
        @Option(help: "fr or en.") var language: String
        @Option(help: "The subject line (Mustache).") var subject: String
        @Option(help: "The plain-text body (Mustache file).") var text: String
        @Option(help: "The HTML body (Mustache file).") var html: String

        func run() async throws {
            let (tenant, name, language, subject, text, html) = (self.tenant, self.name, self.language, self.subject, self.text, self.html)
            _ = try await database.run {
                try DunningAdmin.setTemplate(
                    tenantSlug: tenant, name: name, language: language, subject: subject, textPath: text, htmlPath: html, on: $0)
            }
            print("template \(name) (\(language)) of \(tenant) saved")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's own templates.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let tenant = self.tenant
            let templates = try await database.run { try DunningAdmin.templates(tenantSlug: tenant, on: $0) }
            if json { try printJSON(templates); return }
            print(Output.table(["NAME", "LANGUAGE", "SUBJECT"], templates.map { [$0.name, $0.language, $0.subject] }))
        }
    }
}

struct RatesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rates", abstract: "The ECB main refinancing rate history used for late-payment interest.",
        subcommands: [List.self, Set.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the rate changes, oldest first.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let rates = try await database.run { try DunningAdmin.rates(on: $0) }
            if json { try printJSON(rates); return }
            print(Output.table(["EFFECTIVE_ON", "RATE_%", "SOURCE"], rates.map { [$0.effectiveOn, $0.rate, $0.source] }))
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the rate in force from DATE (percent, e.g. 2.15).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Effective date, YYYY-MM-DD.") var date: String
        @Argument(help: "Rate in percent, e.g. 2.15.") var rate: String

        func run() async throws {
            let (date, rate) = (self.date, self.rate)
            let entry = try await database.run { try DunningAdmin.setRate(date: date, rate: rate, on: $0) }
            print("ECB rate \(entry.rate) % from \(entry.effectiveOn)")
        }
    }
}

struct DunningCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dunning", abstract: "Dunning runs.", subcommands: [Run.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run dunning for a tenant: enqueue a dunning.run job (or, with --dry-run, print what it would send).",
            discussion: "With --wait, exit 0 only if the job completed.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(name: .customLong("as-of"), help: "Date of the run (default: today in the tenant's time zone).") var asOf: String?
        @Flag(name: .customLong("dry-run"), help: "Print the reminders the run would record; change nothing.") var dryRun = false
        @Flag(help: "Wait until the job ends and print its outcome.") var wait = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, asOf) = (self.tenant, self.asOf)
            if dryRun {
                let outcome = try await database.run { try DunningAdmin.dryRun(tenantSlug: tenant, asOf: asOf, on: $0) }
                if json { try printJSON(outcome.reminders); return }
                RemindersCommand.printTable(outcome.reminders)
                print("dry run at \(outcome.asOf.isoString): \(outcome.reminderCount) reminder\(outcome.reminderCount == 1 ? "" : "s"), "
                    + "\(outcome.invoicesMoved) invoice\(outcome.invoicesMoved == 1 ? "" : "s") would move; nothing was changed")
                return
            }
            let queued = try await database.run { try DunningAdmin.enqueueRun(tenantSlug: tenant, asOf: asOf, on: $0) }
            guard wait else {
                if json { try printJSON(queued); return }
                print("dunning run of \(tenant) at \(queued.asOf): job \(queued.jobID)\(queued.alreadyQueued ? " (already queued)" : " enqueued")")
                return
            }
            let job = try await database.waitForJob(queued.jobID)
            let recorded = job.state == .completed
                ? try await database.run { try DunningAdmin.recordedRun(jobID: queued.jobID, tenantID: queued.tenantID, on: $0) } : nil
            if json {
                try printJSON(WaitOutcome(
                    job: job, dates: [("as_of", queued.asOf)], recorded: ("run_id", recorded?.0),
                    counts: [("reminders", recorded?.1 ?? 0), ("invoices_moved", recorded?.2 ?? 0)]))
            } else if job.state == .completed {
                print("job \(job.id) completed: dunning of \(tenant) at \(queued.asOf): \(recorded?.1 ?? 0) reminder\(recorded?.1 == 1 ? "" : "s"), "
                    + "\(recorded?.2 ?? 0) invoice\(recorded?.2 == 1 ? "" : "s") moved")
            } else {
                print("job \(job.id) \(job.state.rawValue)\(job.errors.last.map { ": \($0.error)" } ?? "")")
            }
            if job.state != .completed { throw ExitCode(1) }
        }
    }
}

struct RemindersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reminders", abstract: "Reminders sent by dunning runs.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List reminders, newest first, with their status (pending, sent, failed).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "Only this customer's.") var customer: String?
        @Option(help: "pending, sent or failed.") var status: String?
        @Option(help: "At most this many (newest first).") var limit = ReminderView.defaultListLimit
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (tenant, customer, status, limit) = (self.tenant, self.customer, self.status, self.limit)
            let reminders = try await database.run {
                try DunningAdmin.reminders(tenantSlug: tenant, customerID: customer, status: status, limit: limit, on: $0)
            }
            if json { try printJSON(reminders); return }
            RemindersCommand.printTable(reminders)
        }
    }

    static func printTable(_ reminders: [ReminderView]) {
        print(Output.table(
            ["ID", "CUSTOMER", "CUR", "LEVEL", "CHANNEL", "STATUS", "AS_OF", "BALANCE", "INTEREST", "INDEMNITY", "INVOICES"],
            reminders.map {
                [$0.id.map(String.init) ?? "-", $0.customerID, $0.currency, String($0.level), $0.channel, $0.status, $0.asOf,
                 $0.totalBalance, $0.interest, $0.indemnity, $0.items.map(\.invoiceID).joined(separator: " ")]
            }))
    }
}
