import EncoursAdmin
import EncoursLedger
import EncoursPostgres
import EncoursQueue
import EncoursTenancy
import EncoursTestSupport
import Foundation
import Testing

@Suite("Admin commands")
struct AdminTests {
    @Test("a JSON list written element by element is byte for byte the JSON of the whole list")
    func streamedJSONArrays() throws {
        struct Row: Encodable {
            var id: Int
            var name: String
            var tags: [String]
            var nested: [String: Int?]
            var at: Date
        }
        var rows: [Row] = []
        for index in 0..<2_000 {
            let name: String = index % 3 == 0 ? "ligne 1\nligne 2 « \(index) » 😀 / \\" : "C\(index)"
            let tags: [String] = index % 2 == 0 ? [] : ["a", "b"]
            let nested: [String: Int?] = ["z": index, "a": nil]
            rows.append(Row(id: index, name: name, tags: tags, nested: nested, at: Date(timeIntervalSince1970: Double(index) * 86_400.5)))
        }
        for list in [rows, Array(rows.prefix(1)), [Row]()] {
            var written: [UInt8] = []
            var pieces = 0
            try Output.writeJSONArray(list) { written += $0; pieces += 1 }
            #expect(String(decoding: written, as: UTF8.self) == (try Output.json(list)), "\(list.count) rows")
            if list.count == rows.count { #expect(pieces > 1, "a long list is written in several pieces") }
        }
    }

    @Test("tables pad cells to the widest in characters and never cut one (emoji, accents, right-to-left text)")
    func tablePadding() {
        let rows = [["C1", "😀ab", "x"], ["C22", "Société Générale", "y"], ["C3", "شركة", "z"]]
        let table = Output.table(["ID", "NAME", "NOTE"], rows)
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func spaces(_ count: Int) -> String { String(repeating: " ", count: count) }
        // NAME is 16 characters wide ("Société Générale"), ID 3, then two spaces between columns.
        #expect(lines == [
            "ID" + spaces(3) + "NAME" + spaces(14) + "NOTE",
            "C1" + spaces(3) + "😀ab" + spaces(15) + "x",
            "C22" + spaces(2) + "Société Générale" + spaces(2) + "y",
            "C3" + spaces(3) + "شركة" + spaces(14) + "z",
        ])
        // The last column is not padded; every other one ends where the widest cell ends.
        #expect(lines.allSatisfy { !$0.hasSuffix(" ") })
        #expect(Output.table(["A", "B"], []) == "A  B")
    }

    @Test("tenant settings are validated with a message naming the key and value")
    func tenantSettings() throws {
        try TenantSettings.validate(key: "max_concurrent_jobs", value: "4")
        try TenantSettings.validate(key: "max_concurrent_jobs", value: "none")
        try TenantSettings.validate(key: "recovery_indemnity_usd", value: "45.00")
        try TenantSettings.validate(key: "recovery_indemnity", value: "1 000,50")
        try TenantSettings.validate(key: "dunning_schedule", value: "0 7 * * 1-5")
        try TenantSettings.validate(key: "escalation_policy", value: #"{"tiers":[{"name":"account_manager","sla_days":5,"notify":"email:am@example.com"}]}"#)
        for (key, value) in [
            ("max_concurrent_jobs", "-1"), ("max_concurrent_jobs", "lots"), ("max_concurrent_jobs", "2147483648"), ("webhook_url", "ftp://x"),
            ("recovery_indemnity", "40.001"), ("recovery_indemnity", "-5"), ("recovery_indemnity", "99999999999"),
            ("dunning_schedule", "61 * * * *"), ("holidays", "de"),
            ("escalation_policy", #"{"tiers":[]}"#), ("escalation_policy", #"{"tiers":[{"name":"x","sla_days":5,"notify":"sms:1"}]}"#),
            ("escalation_policy", #"{"tiers":[{"name":"x","sla_days":0}]}"#),
            ("timezone", "Mars/Olympus"), ("smtp_from", "nobody"), ("no_such_key", "1"),
        ] {
            do {
                try TenantSettings.validate(key: key, value: value)
                Issue.record("accepted \(key)=\(value)")
            } catch let error as AdminError {
                #expect(error.message.contains(key), "message names the key: \(error.message)")
                #expect(!error.message.contains("\n"))
            }
        }
    }

    @Test("the escalation policy has one parser: tenant set and the disputes read the same tiers")
    func escalationPolicyParser() throws {
        let policy = try EscalationPolicy(json: #"{"tiers":[{"name":"am","sla_days":2,"notify":"webhook"},{"name":"legal","sla_days":10}]}"#)
        #expect(policy.tiers.map(\.name) == ["am", "legal"])
        #expect(policy.tiers.map(\.slaDays) == [2, 10])
        #expect(policy.tiers.first?.notify == "webhook")
        #expect(try EscalationPolicy(json: nil) == .standard)
        #expect(throws: LedgerError.self) { try EscalationPolicy(json: #"{"tiers":[{"name":"","sla_days":2}]}"#) }
    }

    @Test("an enqueue request is checked field by field before the database is asked")
    func enqueueRequestValidation() throws {
        try Admin.EnqueueRequest(kind: "noop", tenantSlug: "acme", count: 1_000_000).validate()
        // Every field each kind's handler reads is accepted.
        for (kind, payload) in [
            ("dunning.run", #"{"as_of": "2026-12-01"}"#), ("reminder.deliver", #"{"reminder_ids": [1, 2]}"#),
            ("reminder.deliver", #"{"reminder_id": 3}"#), ("reminder.deliver", #"{"notification_id": "4"}"#),
            ("risk.recalc", #"{"as_of": "2026-12-01", "customer_id": "C1", "customer_ids": ["C2", "C3"]}"#),
            ("risk.recalc", #"{"customer_ids": []}"#), ("disputes.escalate", #"{"at": "2026-12-03T09:00:00Z"}"#),
            ("noop", #"{"sleep_ms": 5, "fail": "boom"}"#), ("noop", "{}"),
        ] {
            try Admin.EnqueueRequest(kind: kind, tenantSlug: "acme", payload: payload).validate()
        }
        for (request, expected) in [
            (Admin.EnqueueRequest(kind: "nope", tenantSlug: "acme"), "unknown job kind"),
            (Admin.EnqueueRequest(kind: "noop", tenantSlug: "acme", count: 1_000_001), "--count"),
            (Admin.EnqueueRequest(kind: "noop", tenantSlug: "acme", count: Int.max), "--count"),
            (Admin.EnqueueRequest(kind: "noop", tenantSlug: "acme", priority: 0), "--priority"),
            (Admin.EnqueueRequest(kind: "noop", tenantSlug: "acme", payload: "[]"), "--payload"),
            (Admin.EnqueueRequest(kind: "noop", tenantSlug: "acme", uniqueKey: ""), "--unique-key"),
            (Admin.EnqueueRequest(kind: "noop", tenantSlug: "acme", payload: #"{"sleep": 10}"#), #"unknown field "sleep" in a noop payload; its fields are sleep_ms, fail"#),
            (Admin.EnqueueRequest(kind: "risk.recalc", tenantSlug: "acme", payload: #"{"tenant_id": 2}"#), #"unknown field "tenant_id""#),
            (Admin.EnqueueRequest(kind: "noop", tenantSlug: "acme", payload: #"{"sleep_ms": "soon"}"#), "sleep_ms"),
        ] {
            do {
                try request.validate()
                Issue.record("accepted \(request)")
            } catch let error as AdminError {
                #expect(error.message.contains(expected), "\(error.message)")
            }
        }
    }

    @Test("tenant set stores validated values; an unknown tenant is named")
    func tenantAdmin() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                _ = try TenantAdmin.create(slug: "acme", name: "Acme SAS", on: connection)
                let capped = try TenantAdmin.set(slug: "acme", key: "max_concurrent_jobs", value: "4", on: connection)
                #expect(capped.maxConcurrentJobs == 4)
                #expect(try TenantAdmin.set(slug: "acme", key: "max_concurrent_jobs", value: "none", on: connection).maxConcurrentJobs == nil)
                #expect(try TenantAdmin.set(slug: "acme", key: "recovery_indemnity", value: "45,5", on: connection).settings["recovery_indemnity"] == "45.50")
                #expect(throws: TenancyError.self) { try TenantAdmin.set(slug: "ghost", key: "locale", value: "en", on: connection) }
                #expect(throws: TenancyError.self) { try TenantAdmin.create(slug: "acme", name: "Again", on: connection) }
            }
        }
    }

    @Test("a payload file is read strictly: UTF-8, at most 1 MiB")
    func payloadFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "encours-admin-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let good = directory.appending(path: "good.json")
        try Data(#"  {"a": "é"}"#.utf8 + [0x0A]).write(to: good)
        #expect(try Admin.readPayload(path: good.path) == #"{"a": "é"}"#)
        let bad = directory.appending(path: "bad.json")
        try Data([0x7B, 0xC3, 0xA9, 0xE2, 0x82, 0x7D]).write(to: bad)
        do {
            _ = try Admin.readPayload(path: bad.path)
            Issue.record("invalid UTF-8 accepted")
        } catch let error as AdminError {
            #expect(error.message.contains("not valid UTF-8 at byte 4"), "\(error.message)")
        }
    }

    @Test("error messages show at most 200 characters of a value, on one line, and never a secret")
    func errorMessagesAreSafe() throws {
        for (key, value) in [
            ("name", "Acme\u{1B}[31mRED"), ("name", "two\nlines"), ("name", String(repeating: "n", count: 201)),
            ("name", "evil\u{202E}txt.exe"), ("smtp_from", String(repeating: "x", count: 5_000)),
            ("webhook_secret", "short-secret"), ("max_concurrent_jobs", ""),
        ] {
            do {
                try TenantSettings.validate(key: key, value: value)
                Issue.record("accepted \(key)=\(value.prefix(30))")
            } catch let error as AdminError {
                #expect(!error.message.contains("\n"), "\(error.message)")
                #expect(!error.message.contains("\u{1B}"), "\(error.message)")
                #expect(error.message.count < 400, "\(error.message.count) characters")
                if key == "webhook_secret" { #expect(!error.message.contains("short-secret"), "\(error.message)") }
            }
        }
        try TenantSettings.validate(key: "name", value: "Société Générale d'Œuvres — مصنع 🏭")
    }

    @Test("tenant show masks secrets and the password, query values and fragment of webhook_url, and nothing else")
    func displayedSettings() {
        #expect(TenantSettings.displayed("whsec-0123456789abcdef", key: "webhook_secret") == "********")
        #expect(
            TenantSettings.displayed("https://hooks:pa%40ss@example.com:8443/in/encours?token=abc&v=2#frag", key: "webhook_url")
                == "https://hooks:********@example.com:8443/in/encours?token=********&v=********#********")
        #expect(TenantSettings.displayed("https://example.com/in?flag", key: "webhook_url") == "https://example.com/in?flag")
        #expect(TenantSettings.displayed("https://user@example.com/in", key: "webhook_url") == "https://user@example.com/in")
        #expect(TenantSettings.displayed("https://example.com/in", key: "webhook_url") == "https://example.com/in")
        #expect(TenantSettings.displayed("relances@example.com", key: "smtp_from") == "relances@example.com")
    }

    @Test("importing a directory says so; an aging report in a currency the tenant does not use says so")
    func ledgerCommandEdges() async throws {
        try await TestDatabase.with { database in
            try await database.withConnection { connection in
                _ = try TenantAdmin.create(slug: "acme", name: "Acme", on: connection)
                do {
                    _ = try LedgerAdmin.importFile(kind: "customers", tenantSlug: "acme", path: NSTemporaryDirectory(), dryRun: false, on: connection)
                    Issue.record("imported a directory")
                } catch let error as AdminError {
                    #expect(error.message.contains("is a directory"))
                }
                for (currency, expected) in [("xx", "invalid --currency \"xx\""), ("USD", "the tenant has no invoices in USD")] {
                    do {
                        _ = try LedgerAdmin.aging(tenantSlug: "acme", asOf: nil, currency: currency, on: connection)
                        Issue.record("aging in \(currency) accepted")
                    } catch {
                        #expect("\(error)".contains(expected), "\(error)")
                    }
                }
                _ = try LedgerAdmin.aging(tenantSlug: "acme", asOf: nil, currency: "EUR", on: connection)
            }
        }
    }

    @Test("a large import refreshes its table's planner statistics; a small one leaves them to autovacuum")
    func importAnalyzes() async throws {
        try await TestDatabase.with { database in
            _ = try await TestTenants.make(database, "acme")
            func reltuples(_ table: String) async throws -> Double {
                try await database.withConnection { connection in
                    try connection.query("SELECT reltuples::float8 FROM pg_class WHERE oid = ('encours.' || $1)::regclass", [table])
                        .decode(Double.self, row: 0, column: 0)
                }
            }
            let directory = FileManager.default.temporaryDirectory.appending(path: "analyze-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let small = directory.appending(path: "small.csv").path
            try "customer_id,name\nS1,Small\n".write(toFile: small, atomically: true, encoding: .utf8)
            _ = try await database.withConnection { try LedgerAdmin.importFile(kind: "customers", tenantSlug: "acme", path: small, dryRun: false, on: $0) }
            #expect(try await reltuples("customers") < 0, "never analyzed after 1 row")
            let large = directory.appending(path: "large.csv").path
            try ("customer_id,name\n" + (1...1_500).map { "C\($0),Client \($0)\n" }.joined()).write(toFile: large, atomically: true, encoding: .utf8)
            _ = try await database.withConnection { try LedgerAdmin.importFile(kind: "customers", tenantSlug: "acme", path: large, dryRun: false, on: $0) }
            #expect(try await reltuples("customers") == 1_501)
        }
    }
}
