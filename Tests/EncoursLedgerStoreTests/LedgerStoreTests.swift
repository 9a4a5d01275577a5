import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursTenancy
import EncoursTestSupport
import Foundation
import Testing

/// Writes `text` to a temporary CSV file and returns its path.
func csvFile(_ name: String, _ text: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appending(path: "encours-csv-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appending(path: name)
    try Data(text.utf8).write(to: url)
    return url.path
}

/// A Sage-style customers export: BOM, CRLF, semicolons, accents, quoted semicolons, decimal commas.
let sageCustomers = "\u{FEFF}customer_id;name;email;language;payment_terms_days;credit_limit;on_hold\r\n"
    + "C001;\"Dupont; Fils & Cie\";compta@dupont.fr;fr;30;10\u{00A0}000,00;non\r\n"
    + "C002;Société Générale d'Œuvres;;fr;45;5 000;false\r\n"
    + "C003;\"Acme \"\"UK\"\" Ltd\";ap@acme.co.uk;en;60;;0\r\n"

/// A Cegid-style invoices export: DD/MM/YYYY dates, decimal commas, a credit note.
let cegidInvoices = """
    invoice_id;customer_id;issue_date;due_date;amount;currency;kind;applies_to
    F2026-001;C001;01/09/2026;01/10/2026;1 234,56;EUR;;
    F2026-002;C001;15/09/2026;15/10/2026;500,00;EUR;invoice;
    AV2026-001;C001;20/09/2026;20/09/2026;100,00;EUR;credit_note;F2026-002
    F2026-003;C002;2026-08-01;2026-08-31;2 000;EUR;;
    F2026-004;C003;2026-06-01;2026-07-01;750.50;EUR;;

    """

/// An EBP-style payments export: commas, quoted decimal comma, cash on account.
let ebpPayments = """
    payment_id,customer_id,received_on,amount,invoice_id
    P1,C001,2026-10-05,"234,56",F2026-001
    P2,C002,10/09/2026,500,

    """

@Suite("Ledger in PostgreSQL: import, isolation, reports")
struct LedgerStoreTests {
    func importFile(_ database: TestDatabase, _ kind: String, _ slug: String, _ path: String, dryRun: Bool = false) async throws -> LedgerImport.Outcome {
        try await database.withConnection { try LedgerHelpers.importFile(kind: kind, tenantSlug: slug, path: path, dryRun: dryRun, on: $0) }
    }

    func rejection(_ database: TestDatabase, _ kind: String, _ slug: String, _ path: String) async throws -> [String] {
        do {
            _ = try await importFile(database, kind, slug, path)
            Issue.record("import of \(path) was accepted")
            return []
        } catch let rejected as LedgerImport.Rejected {
            return rejected.issues.listed.map(\.description)
        }
    }

    func loadAcme(_ database: TestDatabase) async throws {
        _ = try await makeTenant(database, "acme")
        _ = try await importFile(database, "customers", "acme", try csvFile("customers.csv", sageCustomers))
        _ = try await importFile(database, "invoices", "acme", try csvFile("invoices.csv", cegidInvoices))
        _ = try await importFile(database, "payments", "acme", try csvFile("payments.csv", ebpPayments))
    }

    @Test("realistic Sage, Cegid and EBP exports import; balances follow payments and credit notes")
    func realisticImport() async throws {
        try await TestDatabase.with { database in
            try await loadAcme(database)
            let (_, summary) = try await database.withConnection { try LedgerHelpers.summary(tenantSlug: "acme", on: $0) }
            #expect(summary.customers == 3)
            #expect(summary.invoices == 4)
            #expect(summary.creditNotes == 1)
            #expect(summary.payments == 2)
            #expect(summary.totals.first?.openBalance == "4150.50")  // 1000.00 + 400.00 + 2000.00 + 750.50
            let name = try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: try TenantStore.find(slug: "acme", on: connection).id, on: connection) { connection in
                    try connection.query("SELECT name FROM encours.customers WHERE customer_id = 'C001'").first?["name"]
                }
            }
            #expect(name == "Dupont; Fils & Cie")
        }
    }

    @Test("re-importing updates changed rows only and audits the change; --dry-run changes nothing")
    func upsertAndDryRun() async throws {
        try await TestDatabase.with { database in
            try await loadAcme(database)
            let same = try await importFile(database, "invoices", "acme", try csvFile("invoices.csv", cegidInvoices))
            #expect(same.inserted == 0)
            #expect(same.updated == 0)
            #expect(same.unchanged == 5)
            let changed = cegidInvoices.replacingOccurrences(of: "F2026-003;C002;2026-08-01;2026-08-31;2 000", with: "F2026-003;C002;2026-08-01;2026-09-15;2 100")
                + "F2026-005;C003;2026-11-01;2026-12-01;99,90;EUR;;\n"
            let dry = try await importFile(database, "invoices", "acme", try csvFile("invoices.csv", changed), dryRun: true)
            #expect(dry.dryRun)
            #expect(dry.inserted == 1)
            #expect(dry.updated == 1)
            let (_, before) = try await database.withConnection { try LedgerHelpers.summary(tenantSlug: "acme", on: $0) }
            #expect(before.invoices == 4, "a dry run writes nothing")
            let real = try await importFile(database, "invoices", "acme", try csvFile("invoices.csv", changed))
            #expect(real.inserted == 1)
            #expect(real.updated == 1)
            let audit = try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: try TenantStore.find(slug: "acme", on: connection).id, on: connection) { connection in
                    try connection.query(
                        "SELECT details->'amount_cents'->>0, details->'amount_cents'->>1 FROM encours.audit_log WHERE action = 'update' AND entity_id = 'F2026-003'"
                    ).rows.map { "\($0[0] ?? "")->\($0[1] ?? "")" }
                }
            }
            #expect(audit == ["200000->210000"])
        }
    }

    @Test("a re-import without some optional columns keeps those values: names change, emails, terms and currencies stay")
    func partialReimport() async throws {
        try await TestDatabase.with { database in
            _ = try await TestTenants.make(database, "acme")
            _ = try await importFile(database, "customers", "acme", try csvFile("c.csv", """
                customer_id,name,email,language,payment_terms_days,credit_limit,policy,on_hold
                C1,Dupont,compta@dupont.example,en,45,5000.00,standard,true
                C2,Martin,martin@example.com,fr,30,,standard,false

                """))
            _ = try await importFile(database, "invoices", "acme", try csvFile("i.csv", """
                invoice_id,customer_id,issue_date,due_date,amount,currency
                F1,C1,2026-01-01,2026-01-31,100.00,USD

                """))
            // A names-only file: one new name, one unchanged, one new customer.
            let renamed = try await importFile(database, "customers", "acme", try csvFile("c2.csv", "customer_id;name\nC1;Dupont & Fils\nC2;Martin\nC3;Petit\n"))
            #expect((renamed.inserted, renamed.updated, renamed.unchanged) == (1, 1, 1))
            // An invoice file without its currency column: the amount changes, USD stays (and is not refused as a currency change).
            let amended = try await importFile(database, "invoices", "acme", try csvFile("i2.csv", "invoice_id,customer_id,issue_date,due_date,amount\nF1,C1,2026-01-01,2026-01-31,120.00\n"))
            #expect(amended.updated == 1)
            let rows = try await database.withConnection { connection in
                try connection.query(
                    """
                    SELECT customer_id, name, coalesce(email, '-'), language, payment_terms_days::text, coalesce(credit_limit_cents::text, '-'), on_hold::text
                    FROM encours.customers ORDER BY customer_id
                    """
                ).rows.map { row in (0..<7).map { row[$0] ?? "" }.joined(separator: " ") }
            }
            #expect(rows[0] == "C1 Dupont & Fils compta@dupont.example en 45 500000 true")
            #expect(rows[1] == "C2 Martin martin@example.com fr 30 - false")
            #expect(rows[2].hasPrefix("C3 Petit - "), "a new customer gets the defaults: \(rows[2])")
            #expect(try await database.integer("SELECT count(*) FROM encours.invoices WHERE invoice_id = 'F1' AND currency = 'USD' AND amount_cents = 12000") == 1)
        }
    }

    @Test("cross-row rules reject the file, list every problem with its line, and change nothing")
    func crossRowRejections() async throws {
        try await TestDatabase.with { database in
            try await loadAcme(database)
            let invoices = """
                invoice_id;customer_id;issue_date;due_date;amount;currency;kind;applies_to
                G1;C999;01/11/2026;01/12/2026;10,00;EUR;;
                G2;C001;01/11/2026;01/12/2026;10,00;USD;;
                AV2;C001;02/11/2026;02/11/2026;5,00;EUR;credit_note;NOPE
                AV3;C001;02/11/2026;02/11/2026;5,00;EUR;credit_note;G2
                AV4;C002;02/11/2026;02/11/2026;2 500,00;EUR;credit_note;F2026-003

                """
            let problems = try await rejection(database, "invoices", "acme", try csvFile("inv.csv", invoices))
            #expect(problems.contains { $0.hasSuffix("inv.csv:2: customer_id: unknown customer (\"C999\")") }, "\(problems)")
            #expect(problems.contains { $0.hasSuffix("inv.csv:4: applies_to: no invoice with this id (\"NOPE\")") }, "\(problems)")
            #expect(problems.contains { $0.contains("inv.csv:5: currency: credit note in EUR for an invoice in USD") }, "\(problems)")
            #expect(problems.contains { $0.contains("inv.csv:6: amount: payments, credit notes and open disputes (2500.00) exceed the amount of invoice F2026-003 (2000.00)") }, "\(problems)")

            let payments = """
                payment_id,customer_id,received_on,amount,invoice_id,currency
                P10,C404,2026-11-01,10,,EUR
                P11,C001,2026-11-01,10,F2026-003,EUR
                P12,C001,2026-11-01,10,F2026-001,USD
                P13,C001,2026-11-02,900,F2026-001,EUR
                P14,C001,2026-11-03,100.01,F2026-001,EUR

                """
            let paymentProblems = try await rejection(database, "payments", "acme", try csvFile("pay.csv", payments))
            #expect(paymentProblems.contains { $0.hasSuffix("pay.csv:2: customer_id: unknown customer (\"C404\")") }, "\(paymentProblems)")
            #expect(paymentProblems.contains { $0.contains("pay.csv:3: invoice_id: belongs to customer C002, not C001") }, "\(paymentProblems)")
            #expect(paymentProblems.contains { $0.contains("pay.csv:4: currency: invoice F2026-001 is in EUR") }, "\(paymentProblems)")
            // 234.56 already paid + 10 + 900 + 100.01 > 1234.56.
            #expect(paymentProblems.contains { $0.contains("amount: payments to invoice F2026-001 (1244.57) exceed its balance before payments (1234.56)") }, "\(paymentProblems)")

            let disputes = "dispute_id;invoice_id;reason;opened_on;amount\nD1;F404;quality;01/11/2026;\nD2;F2026-001;pricing;01/11/2026;1 500,00\n"
            let disputeProblems = try await rejection(database, "disputes", "acme", try csvFile("dis.csv", disputes))
            #expect(disputeProblems.contains { $0.hasSuffix("dis.csv:2: invoice_id: unknown invoice (\"F404\")") }, "\(disputeProblems)")
            #expect(disputeProblems.contains { $0.contains("dis.csv:3: amount: more than the invoice balance (1000.00)") }, "\(disputeProblems)")

            let (_, summary) = try await database.withConnection { try LedgerHelpers.summary(tenantSlug: "acme", on: $0) }
            #expect(summary.invoices == 4)
            #expect(summary.payments == 2)
            #expect(summary.openDisputes == 0)
        }
    }

    @Test("row-level security: a tenant's queries see and change only its rows, even without WHERE")
    func tenantIsolation() async throws {
        try await TestDatabase.with { database in
            try await loadAcme(database)
            let beta = try await makeTenant(database, "beta")
            _ = try await importFile(database, "customers", "beta", try csvFile("c.csv", "customer_id,name\nB1,Beta Client\nC001,Same id other tenant\n"))
            let acme = try await database.withConnection { try TenantStore.find(slug: "acme", on: $0).id }
            try await database.withConnection { connection in
                // Reads without WHERE: only the scoped tenant's rows.
                let seen = try TenantScope.transaction(tenantID: beta, on: connection) { connection in
                    try connection.query("SELECT customer_id FROM encours.customers ORDER BY 1").rows.compactMap { $0[0] }
                }
                #expect(seen == ["B1", "C001"])
                let invoicesSeen = try TenantScope.transaction(tenantID: beta, on: connection) { connection in
                    try connection.query("SELECT count(*) FROM encours.invoices").decode(Int.self, row: 0, column: 0)
                }
                #expect(invoicesSeen == 0)
                // Writes without WHERE: only the scoped tenant's rows change.
                let renamed = try TenantScope.transaction(tenantID: beta, on: connection) { connection in
                    try connection.query("UPDATE encours.customers SET name = 'pwned'").affectedRows
                }
                #expect(renamed == 2)
                let acmeNames = try TenantScope.transaction(tenantID: acme, on: connection) { connection in
                    try connection.query("SELECT count(*) FROM encours.customers WHERE name = 'pwned'").decode(Int.self, row: 0, column: 0)
                }
                #expect(acmeNames == 0)
                // Writing another tenant's id is refused by the policy.
                do {
                    _ = try TenantScope.transaction(tenantID: beta, on: connection) { connection in
                        try connection.query("INSERT INTO encours.customers (tenant_id, customer_id, name) VALUES ($1, 'X', 'x')", [acme])
                    }
                    Issue.record("inserted a row for another tenant")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "42501", "\(error)")
                }
                // Deleting everything deletes only this tenant's (unreferenced) rows.
                let deleted = try TenantScope.transaction(tenantID: beta, commit: false, on: connection) { connection in
                    try connection.query("DELETE FROM encours.customers").affectedRows
                }
                #expect(deleted == 2)
                // The tenant role cannot drop the tenant setting to see everything, nor bypass RLS.
                let unscoped = try connection.transaction { connection in
                    try connection.execute("SET LOCAL ROLE encours_tenant")
                    return try connection.query("SELECT count(*) FROM encours.customers").decode(Int.self, row: 0, column: 0)
                }
                #expect(unscoped == 0)
                #expect(throws: PostgresError.self) {
                    try TenantScope.transaction(tenantID: beta, on: connection) { connection in
                        try connection.execute("ALTER TABLE encours.customers DISABLE ROW LEVEL SECURITY")
                    }
                }
            }
        }
    }

    @Test("aging buckets by days past due at the as-of date, with payments and credit notes up to that date")
    func agingBuckets() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            _ = try await importFile(database, "customers", "acme", try csvFile("c.csv", "customer_id;name\nA;Alpha\nB;Beta\n"))
            // As of 2026-11-30: due dates 0, 1, 30, 31, 60, 61, 90 and 91 days ago.
            let invoices = """
                invoice_id;customer_id;issue_date;due_date;amount
                I0;A;2026-10-01;2026-11-30;1,00
                I1;A;2026-10-01;2026-11-29;2,00
                I30;A;2026-09-01;2026-10-31;4,00
                I31;A;2026-09-01;2026-10-30;8,00
                I60;B;2026-08-01;2026-10-01;16,00
                I61;B;2026-08-01;2026-09-30;32,00
                I90;B;2026-07-01;2026-09-01;64,00
                I91;B;2026-07-01;2026-08-31;128,00
                LATE;B;2026-12-01;2026-12-31;1000,00

                """
            _ = try await importFile(database, "invoices", "acme", try csvFile("i.csv", invoices))
            _ = try await importFile(database, "payments", "acme", try csvFile("p.csv", "payment_id;customer_id;received_on;amount;invoice_id\nP;B;2026-12-05;128,00;I91\n"))
            let report = try await database.withConnection { try LedgerHelpers.aging(tenantSlug: "acme", asOf: "30/11/2026", currency: nil, on: $0) }
            #expect(report.asOf == "2026-11-30")
            #expect(report.currency == "EUR")
            #expect(report.totals == AgingReport.Buckets(current: "1.00", days1To30: "6.00", days31To60: "24.00", days61To90: "96.00", over90: "128.00"))
            #expect(report.customers.map(\.customerID) == ["A", "B"])
            let later = try await database.withConnection { try LedgerHelpers.aging(tenantSlug: "acme", asOf: "2026-12-10", currency: nil, on: $0) }
            #expect(later.totals.over90 == "64.00", "I91 paid on 2026-12-05; I90 now 100 days past due")
            #expect(throws: LedgerStoreError.self) {
                _ = try PostgresConnection(connectionString: database.url).transaction { connection in
                    try LedgerHelpers.aging(tenantSlug: "acme", asOf: "31/02/2026", currency: nil, on: connection)
                }
            }
        }
    }

    @Test("promises and disputes are recorded for the tenant with clear refusals")
    func promisesAndDisputes() async throws {
        try await TestDatabase.with { database in
            try await loadAcme(database)
            let promise = try await database.withConnection {
                try LedgerHelpers.addPromise(tenantSlug: "acme", customerID: "C001", amount: "1 000,00", date: "15/12/2026", invoiceID: "F2026-001", on: $0)
            }
            #expect(promise.amount == "1000.00")
            #expect(promise.date == "2026-12-15")
            let audited = try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: try TenantStore.find(slug: "acme", on: connection).id, on: connection) { connection in
                    try connection.query(
                        "SELECT details->>'amount' FROM encours.audit_log WHERE entity = 'promise' AND action = 'insert'"
                    ).rows.compactMap { $0[0] }
                }
            }
            #expect(audited == ["1000.00"])
            for (customer, invoice, amount, date, expected) in [
                ("C404", nil, "10", "2026-12-01", "unknown customer"), ("C001", "F2026-003", "10", "2026-12-01", "belongs to customer C002"),
                ("C001", nil, "-3", "2026-12-01", "--amount"),
                ("C001", nil, "10", "2026-13-01", "invalid --date \"2026-13-01\": no such date"),
                ("C001", nil, "10", "2026-02-30", "invalid --date \"2026-02-30\": no such date"),
                ("C001", nil, "10", "20/12/26", "invalid --date \"20/12/26\": expected YYYY-MM-DD or DD/MM/YYYY"),
                ("C001", nil, "10", "9026-12-01", "invalid --date \"9026-12-01\": the year must be between 1900 and 2999"),
            ] as [(String, String?, String, String, String)] {
                do {
                    _ = try await database.withConnection {
                        try LedgerHelpers.addPromise(tenantSlug: "acme", customerID: customer, amount: amount, date: date, invoiceID: invoice, on: $0)
                    }
                    Issue.record("promise accepted: \(customer) \(amount) \(date)")
                } catch let error as LedgerStoreError {
                    #expect(error.message.contains(expected), "\(error.message)")
                }
            }
            // The refusals changed nothing: the first promise is the tenant's only one.
            let promises = try await database.withConnection { connection in
                try TenantScope.transaction(tenantID: try TenantStore.find(slug: "acme", on: connection).id, on: connection) {
                    try $0.query("SELECT count(*) FROM encours.promises").decode(Int.self, row: 0, column: 0)
                }
            }
            #expect(promises == 1)
            let dispute = try await database.withConnection {
                try LedgerHelpers.openDispute(tenantSlug: "acme", invoiceID: "F2026-003", reason: "quality", amount: nil, on: $0)
            }
            #expect(dispute.status == "open")
            #expect(dispute.tier == 1)
            // Tier 1's SLA (5 business days by default) after the day it was opened (read from the
            // dispute itself: a second clock reading could fall on the next day at midnight).
            let expected = try BusinessCalendar(holidays: .fr).adding(businessDays: 5, to: CalendarDate(parsing: dispute.openedOn))
            #expect(dispute.deadline == expected.isoString)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let json = String(decoding: try encoder.encode([dispute]), as: UTF8.self)
            #expect(json.contains("\"outcome\" : null"), "\(json)")
            _ = try await database.withConnection { connection in
                try TenantStore.updateSetting(slug: "acme", key: "escalation_policy", value: #"{"tiers":[{"name":"am","sla_days":2,"notify":"webhook"}]}"#, json: true, on: connection)
            }
            _ = try await importFile(database, "disputes", "acme", try csvFile("d.csv", "dispute_id;invoice_id;reason;opened_on\nD7;F2026-004;other;06/11/2026\n"))
            let imported = try await database.withConnection { try LedgerHelpers.listDisputes(tenantSlug: "acme", status: nil, on: $0) }
            // Friday 6 Nov 2026 + 2 business days: Mon 9, Tue 10.
            #expect(imported.first { $0.id == "D7" }?.deadline == "2026-11-10")
            let listed = try await database.withConnection { try LedgerHelpers.listDisputes(tenantSlug: "acme", status: "open", on: $0) }
            #expect(Set(listed.map(\.id)) == [dispute.id, "D7"])
            await #expect(throws: LedgerStoreError.self) {
                try await database.withConnection { try LedgerHelpers.openDispute(tenantSlug: "acme", invoiceID: "F2026-003", reason: "other", amount: "5000", on: $0) }
            }
        }
    }
}
