import EncoursJobs
import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue
import EncoursTenancy
import Foundation

/// The ledger commands of the CLI: each resolves the tenant slug, then calls the ledger store.
public enum LedgerAdmin {
    /// `encours import KIND --tenant T FILE [--dry-run]`.
    public static func importFile(
        kind: String, tenantSlug: String, path: String, dryRun: Bool, progress: ((Int) -> Void)? = nil, on connection: PostgresConnection
    ) throws -> LedgerImport.Outcome {
        guard let importKind = ImportKind(rawValue: kind) else {
            throw AdminError(.invalidInput, "unknown import kind \"\(kind)\": expected customers, invoices, payments or disputes")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AdminError(.invalidInput, "\(path): no such file")
        }
        guard !isDirectory.boolValue else { throw AdminError(.invalidInput, "\(path): is a directory, not a CSV file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw AdminError(.invalidInput, "\(path): not readable")
        }
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        // A change to the ledger enqueues the risk recalculation of the customers it touches
        // (today, in the tenant's time zone), committed with the import.
        let outcome = try LedgerImport.run(
            kind: importKind, fileURL: URL(fileURLWithPath: path), fileName: path, tenantID: tenant.id,
            tenantCurrency: tenant.currency, dryRun: dryRun,
            afterChange: { connection, customers in try enqueueRiskRecalc(tenantID: tenant.id, customerIDs: customers, on: connection) },
            progress: progress, on: connection)
        // Fresh statistics after a large import: a dunning run planned on a table the planner
        // still thinks empty (autovacuum has not visited it yet) took 8 s instead of 0.14 s for
        // 5,000 customers, and past the lease for 10,000. As the schema owner, outside the tenant scope.
        if !dryRun, outcome.inserted + outcome.updated >= analyzeThreshold {
            try LedgerImport.analyze(kind: importKind, on: connection)
        }
        return outcome
    }

    /// Rows an import must write before it refreshes the table's planner statistics.
    static let analyzeThreshold = 1_000

    /// `encours promises add`.
    public static func addPromise(
        tenantSlug: String, customerID: String, amount: String, date: String, invoiceID: String?, on connection: PostgresConnection
    ) throws -> Promises.Promise {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try Promises.add(
            tenantID: tenant.id, customerID: customerID, amount: amount, date: date, invoiceID: invoiceID,
            tenantCurrency: tenant.currency, on: connection)
    }

    /// `encours report aging`.
    public static func aging(tenantSlug: String, asOf: String?, currency: String?, on connection: PostgresConnection) throws -> AgingReport {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return try AgingReport.compute(tenantID: tenant.id, asOf: asOf, currency: currency, on: connection)
    }

    /// The ledger part of `tenant show`.
    public static func summary(tenantSlug: String, on connection: PostgresConnection) throws -> (Tenant, LedgerSummary) {
        let tenant = try TenantStore.find(slug: tenantSlug, on: connection)
        return (tenant, try LedgerSummary.fetch(tenantID: tenant.id, on: connection))
    }

    /// Enqueues the risk recalculation (today, in the tenant's time zone) of the customers a
    /// ledger change touched (nil: all of them), in the caller's transaction so it commits with the change.
    static func enqueueRiskRecalc(tenantID: Int64, customerIDs: [String]?, on connection: PostgresConnection) throws {
        _ = try JobQueue.enqueue(
            [NewJob(tenantID: tenantID, kind: RiskRecalcHandler.kindName,
                    payload: try RiskRecalcHandler.payload(asOf: nil, customerIDs: customerIDs), priority: 3)],
            on: connection)
    }
}
