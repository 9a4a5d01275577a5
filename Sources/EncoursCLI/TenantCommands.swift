import ArgumentParser
import EncoursAdmin
import EncoursTenancy
import Foundation

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Create, list, show and configure tenants.",
        subcommands: [Create.self, List.self, Show.self, Set.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug: lowercase letters, digits, - and _.") var slug: String
        @Option(help: "Company name.") var name: String
        @Option(help: "ISO 4217 currency.") var currency = "EUR"
        @Option(help: "Language of reminders: fr or en.") var locale = "fr"
        @Option(help: "IANA time zone for dates and schedules.") var timezone = "Europe/Paris"
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (slug, name, currency, locale, timezone) = (self.slug, self.name, self.currency, self.locale, self.timezone)
            let tenant = try await database.run {
                try TenantAdmin.create(slug: slug, name: name, currency: currency, locale: locale, timezone: timezone, on: $0)
            }
            if json { try printJSON(TenantView(tenant)) } else { print("created tenant \(tenant.slug)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let tenants = try await database.run { try TenantStore.list(on: $0) }
            if json { try printJSON(tenants.map(TenantView.init)); return }
            print(Output.table(
                ["SLUG", "NAME", "CURRENCY", "LOCALE", "TIMEZONE", "MAX_CONCURRENT_JOBS"],
                tenants.map { [$0.slug, $0.name, $0.currency, $0.locale, $0.timezone, $0.maxConcurrentJobs.map(String.init) ?? "none"] }))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a tenant and its settings (secrets, and the password and query of webhook_url, masked).")
        @OptionGroup var database: DatabaseOptions
        @Argument var slug: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let slug = self.slug
            let (tenant, summary) = try await database.run { try LedgerAdmin.summary(tenantSlug: slug, on: $0) }
            var view = TenantView(tenant)
            view.ledger = summary
            if json { try printJSON(view) } else { print(view.text) }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a tenant setting.",
            discussion: "Keys: \(TenantSettings.keys.joined(separator: ", ")), recovery_indemnity_<currency>.")
        @OptionGroup var database: DatabaseOptions
        @Argument var slug: String
        @Argument var key: String
        @Argument var value: String

        func run() async throws {
            let (slug, key, value) = (self.slug, self.key, self.value)
            _ = try await database.run { try TenantAdmin.set(slug: slug, key: key, value: value, on: $0) }
            print("\(slug): \(key) = \(TenantSettings.displayed(value, key: key))")
        }
    }
}
