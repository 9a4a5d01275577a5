import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursTenancy
import EncoursTestSupport
import Foundation

/// Creates a tenant and returns its id.
func makeTenant(_ database: TestDatabase, _ slug: String) async throws -> Int64 {
    try await TestTenants.make(database, slug)
}

/// The ledger store's commands by tenant slug, as the CLI calls them.
enum LedgerHelpers {
    static func importFile(kind: String, tenantSlug: String, path: String, dryRun: Bool, on connection: PostgresConnection) throws -> LedgerImport.Outcome {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try LedgerImport.run(
            kind: ImportKind(rawValue: kind)!, fileURL: URL(fileURLWithPath: path), fileName: path, tenantID: tenant.id,
            tenantCurrency: tenant.currency, dryRun: dryRun, on: connection)
    }

    static func summary(tenantSlug: String, on connection: PostgresConnection) throws -> (Tenant, LedgerSummary) {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return (tenant, try LedgerSummary.fetch(tenantID: tenant.id, on: connection))
    }

    static func aging(tenantSlug: String, asOf: String?, currency: String?, on connection: PostgresConnection) throws -> AgingReport {
        try AgingReport.compute(tenantID: TenantStore.find(slug: tenantSlug, on: connection).id, asOf: asOf, currency: currency, on: connection)
    }

    static func addPromise(
        tenantSlug: String, customerID: String, amount: String, date: String, invoiceID: String?, on connection: PostgresConnection
    ) throws -> Promises.Promise {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try Promises.add(
            tenantID: tenant.id, customerID: customerID, amount: amount, date: date, invoiceID: invoiceID,
            tenantCurrency: tenant.currency, on: connection)
    }

    static func openDispute(tenantSlug: String, invoiceID: String, reason: String, amount: String?, on connection: PostgresConnection) throws -> Disputes.Dispute {
        try Disputes.open(tenantID: TenantStore.find(slug: tenantSlug, on: connection).id, invoiceID: invoiceID, reason: reason, amount: amount, on: connection)
    }

    static func listDisputes(tenantSlug: String, status: String?, on connection: PostgresConnection) throws -> [Disputes.Dispute] {
        try Disputes.list(tenantID: TenantStore.find(slug: tenantSlug, on: connection).id, status: status, on: connection)
    }
}
