import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursTenancy
import EncoursTestSupport
import Foundation
import Testing

/// Imports a file for a tenant on a connection of its own; the problems when it is refused.
func importResult(_ database: TestDatabase, _ kind: String, _ slug: String, _ path: String) async throws -> Result<LedgerImport.Outcome, LedgerImport.Rejected> {
    do {
        return .success(try await database.withConnection { try LedgerHelpers.importFile(kind: kind, tenantSlug: slug, path: path, dryRun: false, on: $0) })
    } catch let rejected as LedgerImport.Rejected {
        return .failure(rejected)
    }
}

@Suite("Ledger integrity: concurrency, re-imports, overflow, the audit trail")
struct IntegrityTests {
    @Test("30 racing pairs of payment imports on one invoice: never both accepted, never a negative balance, never a raw SQLSTATE")
    func concurrentPaymentImports() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "t")
            let invoices = (1...30).map { "I\($0);C1;2026-10-01;2026-10-31;500,00" }.joined(separator: "\n")
            _ = try await importResult(database, "customers", "t", try csvFile("c.csv", "customer_id;name\nC1;Client\n"))
            _ = try await importResult(database, "invoices", "t", try csvFile("i.csv", "invoice_id;customer_id;issue_date;due_date;amount\n" + invoices + "\n"))
            var bothAccepted = 0
            for trial in 1...30 {
                let a = try csvFile("pa.csv", "payment_id;customer_id;received_on;amount;invoice_id\nPA\(trial);C1;2026-11-01;300,00;I\(trial)\n")
                let b = try csvFile("pb.csv", "payment_id;customer_id;received_on;amount;invoice_id\nPB\(trial);C1;2026-11-01;300,00;I\(trial)\n")
                async let first = importResult(database, "payments", "t", a)
                async let second = importResult(database, "payments", "t", b)
                let results = try await [first, second]
                let accepted = results.filter { if case .success = $0 { true } else { false } }.count
                if accepted == 2 { bothAccepted += 1 }
                #expect(accepted == 1, "trial \(trial): \(accepted) accepted")
                for case .failure(let rejected) in results {
                    let text = rejected.description
                    #expect(text.contains(":2: amount:") && text.contains("exceed its balance"), "\(text)")
                    #expect(!text.contains("SQLSTATE"))
                }
            }
            #expect(bothAccepted == 0)
            let negative = try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: try TenantStore.find(slug: "t", on: connection).id, on: connection) { connection in
                    try connection.query("SELECT count(*) FROM encours.invoice_balances WHERE balance_cents < 0").decode(Int.self, row: 0, column: 0)
                }
            }
            #expect(negative == 0)
        }
    }

    @Test("the same new customers file imported twice at once: both succeed, the second finds them unchanged")
    func concurrentCustomerImports() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "t")
            for trial in 1...10 {
                let rows = (1...200).map { "K\(trial)-\($0);Client \($0)" }.joined(separator: "\n")
                let file = try csvFile("c.csv", "customer_id;name\n" + rows + "\n")
                async let first = importResult(database, "customers", "t", file)
                async let second = importResult(database, "customers", "t", file)
                var inserted: [Int] = []
                for result in try await [first, second] {
                    switch result {
                    case .success(let outcome): inserted.append(outcome.inserted)
                    case .failure(let rejected): Issue.record("refused: \(rejected.description)")
                    }
                }
                #expect(inserted.sorted() == [0, 200], "trial \(trial): \(inserted)")
            }
        }
    }

    @Test("a tenant's ledger writers serialize; another tenant's import is not blocked")
    func lockIsPerTenant() async throws {
        try await TestDatabase.with { database in
            let a = try await makeTenant(database, "a")
            _ = try await makeTenant(database, "b")
            let url = database.url
            let file = try csvFile("c.csv", "customer_id;name\nX;X\n")
            let (otherTenant, sameTenant) = try await database.withConnection { _ -> (Bool, String?) in
                // One connection holds tenant a's ledger lock in an open transaction...
                let holder = try PostgresConnection(connectionString: url)
                try holder.execute("BEGIN")
                try TenantScope.assume(tenantID: a, actor: "holder", on: holder)
                try TenantScope.lockLedger(on: holder)
                // ... tenant b imports meanwhile,
                let other = try PostgresConnection(connectionString: url)
                try other.execute("SET statement_timeout = '5s'")
                let imported = (try? LedgerHelpers.importFile(kind: "customers", tenantSlug: "b", path: file, dryRun: false, on: other)) != nil
                // ... and tenant a's second writer waits (here: gives up after 300 ms).
                let same = try PostgresConnection(connectionString: url)
                try same.execute("SET lock_timeout = '300ms'")
                var state: String?
                do {
                    _ = try LedgerHelpers.importFile(kind: "customers", tenantSlug: "a", path: file, dryRun: false, on: same)
                } catch let error as PostgresError {
                    state = error.sqlState
                }
                try holder.execute("ROLLBACK")
                return (imported, state)
            }
            #expect(otherTenant)
            #expect(sameTenant == "55P03", "the second writer of tenant a was not made to wait")
        }
    }

    @Test("a re-import cannot rewrite history: customer, currency and kind stay while payments, credit notes or disputes point at the invoice")
    func reimportCannotRewriteHistory() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "t")
            _ = try await importResult(database, "customers", "t", try csvFile("c.csv", "customer_id;name\nC1;One\nC2;Two\n"))
            _ = try await importResult(database, "invoices", "t", try csvFile("i.csv", "invoice_id;customer_id;issue_date;due_date;amount;currency\nF1;C1;2026-10-01;2026-10-31;1 000,00;EUR\n"))
            _ = try await importResult(database, "payments", "t", try csvFile("p.csv", "payment_id;customer_id;received_on;amount;invoice_id\nP1;C1;2026-11-01;400,00;F1\n"))
            _ = try await importResult(database, "disputes", "t", try csvFile("d.csv", "dispute_id;invoice_id;reason;opened_on;amount\nD1;F1;pricing;2026-11-02;500,00\n"))
            let changed = try csvFile("i2.csv", "invoice_id;customer_id;issue_date;due_date;amount;currency\nF1;C2;2026-10-01;2026-10-31;600,00;USD\n")
            guard case .failure(let rejected) = try await importResult(database, "invoices", "t", changed) else {
                Issue.record("the rewrite was accepted")
                return
            }
            let text = rejected.description
            #expect(text.contains("i2.csv:2: customer_id: cannot change customer_id of invoice F1 from C1 to C2 while dispute D1, payment P1 apply to it"), "\(text)")
            #expect(text.contains("i2.csv:2: currency: cannot change currency of invoice F1 from EUR to USD"), "\(text)")
            // The amount alone: 600 < 400 paid + 500 disputed.
            let smaller = try csvFile("i3.csv", "invoice_id;customer_id;issue_date;due_date;amount;currency\nF1;C1;2026-10-01;2026-10-31;600,00;EUR\n")
            guard case .failure(let tooSmall) = try await importResult(database, "invoices", "t", smaller) else {
                Issue.record("an amount below what is paid and disputed was accepted")
                return
            }
            #expect(tooSmall.description.contains("payments, credit notes and open disputes (900.00) exceed the amount of invoice F1 (600.00)"), "\(tooSmall.description)")
            // Nothing changed.
            let row = try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: try TenantStore.find(slug: "t", on: connection).id, on: connection) { connection in
                    try connection.query("SELECT customer_id || ' ' || currency || ' ' || amount_cents FROM encours.invoices WHERE invoice_id = 'F1'").first?[0]
                }
            }
            #expect(row == "C1 EUR 100000")
            // A credit note of another customer than its invoice's, even on a first import.
            let credit = try csvFile("cn.csv", "invoice_id;customer_id;issue_date;due_date;amount;kind;applies_to\nAV1;C2;2026-11-05;2026-11-05;10,00;credit_note;F1\n")
            guard case .failure(let wrongCustomer) = try await importResult(database, "invoices", "t", credit) else {
                Issue.record("a credit note of C2 on C1's invoice was accepted")
                return
            }
            #expect(wrongCustomer.description.contains("cn.csv:2: customer_id: credit note for invoice F1 of customer C1, not C2"), "\(wrongCustomer.description)")
        }
    }

    @Test("amounts past 1,000,000,000,000.00 are refused; sums past 64 bits still report exactly")
    func overflow() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "t")
            _ = try await importResult(database, "customers", "t", try csvFile("c.csv", "customer_id;name\nC1;One\n"))
            let huge = try csvFile("i.csv", "invoice_id;customer_id;issue_date;due_date;amount\nF1;C1;2026-10-01;2026-10-31;50 000 000 000 000 000,00\n")
            guard case .failure(let rejected) = try await importResult(database, "invoices", "t", huge) else {
                Issue.record("a huge amount was accepted")
                return
            }
            #expect(rejected.description.contains("i.csv:2: amount: too large: the most one row may hold is 1000000000000.00"), "\(rejected.description)")
            // 100,000 invoices at the maximum: 10^19 cents in all (10^17 euros), past Int64.
            try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: tenant, on: connection) { connection in
                    _ = try connection.query(
                        """
                        INSERT INTO encours.invoices (tenant_id, invoice_id, customer_id, issue_date, due_date, amount_cents, currency)
                        SELECT $1, 'M' || n, 'C1', '2026-10-01', '2026-10-31', 100000000000000, 'EUR' FROM generate_series(1, 100000) AS n
                        """, [tenant])
                }
            }
            let report = try await database.withConnection { try LedgerHelpers.aging(tenantSlug: "t", asOf: "2026-11-15", currency: nil, on: $0) }
            #expect(report.totals.days1To30 == "100000000000000000.00")
            let (_, summary) = try await database.withConnection { try LedgerHelpers.summary(tenantSlug: "t", on: $0) }
            #expect(summary.totals.first?.openBalance == "100000000000000000.00")
            await #expect(throws: PostgresError.self) {
                try await database.withConnection { connection in
                    try TenantScope.transaction(tenantID: tenant, on: connection) { connection in
                        _ = try connection.query(
                            "UPDATE encours.invoices SET amount_cents = 100000000000001 WHERE invoice_id = 'M1'")
                    }
                }
            }
        }
    }

    @Test("as the tenant role: the audit trail cannot be rewritten, forged or blamed on someone else, and the tenant cannot be switched")
    func auditTrailAndScopeCannotBeTamperedWith() async throws {
        try await TestDatabase.with { database in
            let t = try await makeTenant(database, "t")
            let other = try await makeTenant(database, "other")
            _ = try await importResult(database, "customers", "t", try csvFile("c.csv", "customer_id;name\nC1;One\n"))
            _ = try await importResult(database, "customers", "other", try csvFile("c.csv", "customer_id;name\nO1;Other\n"))
            try await database.withConnection { connection in
                for statement in [
                    "UPDATE encours.audit_log SET actor = 'nobody'",
                    "DELETE FROM encours.audit_log",
                    "INSERT INTO encours.audit_log (tenant_id, actor, action, entity) VALUES (\(t), 'forged', 'import', 'x')",
                    "SELECT encours.enter_tenant_scope(\(other), 'me')",
                ] {
                    do {
                        try TenantScope.transaction(tenantID: t, actor: "tester", on: connection) { try $0.execute(statement) }
                        Issue.record("allowed: \(statement)")
                    } catch let error as PostgresError {
                        #expect(error.sqlState == "42501", "\(statement): \(error)")
                    }
                }
                // Setting the old tenant setting switches nothing.
                let seen = try TenantScope.transaction(tenantID: t, on: connection) { connection in
                    try connection.query("SELECT set_config('encours.tenant_id', $1, true)", [String(other)])
                    return try connection.query("SELECT customer_id FROM encours.customers").rows.compactMap { $0[0] }
                }
                #expect(seen == ["C1"])
                // The actor of an entry is the scope's, whatever the transaction sets.
                try TenantScope.transaction(tenantID: t, actor: "encours promises add", on: connection) { connection in
                    try connection.query("SELECT set_config('encours.actor', 'someone else', true)")
                    try connection.query("SELECT encours.audit('note', 'test', NULL, '{}'::jsonb)")
                }
                let actor = try TenantScope.transaction(tenantID: t, on: connection) { connection in
                    try connection.query("SELECT actor FROM encours.audit_log WHERE action = 'note'").first?[0]
                }
                #expect(actor == "encours promises add")
                // Outside any scope, nothing is visible and nothing can be audited.
                let unscoped = try connection.transaction { connection in
                    try connection.execute("SET LOCAL ROLE encours_tenant")
                    return try connection.query("SELECT count(*) FROM encours.customers").decode(Int.self, row: 0, column: 0)
                }
                #expect(unscoped == 0)
            }
        }
    }
}
