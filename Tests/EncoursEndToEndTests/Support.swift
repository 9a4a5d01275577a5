import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Testing

/// Creates a tenant and returns its id.
func makeTenant(_ database: TestDatabase, _ slug: String, maxConcurrentJobs: Int? = nil) async throws -> Int64 {
    try await TestTenants.make(database, slug, maxConcurrentJobs: maxConcurrentJobs)
}

func stateCount(_ database: TestDatabase, _ state: JobState, tenantID: Int64? = nil) async throws -> Int {
    try await database.integer(
        "SELECT count(*) FROM encours.jobs WHERE state = $1::encours.job_state AND ($2::bigint IS NULL OR tenant_id = $2)",
        [state, tenantID])
}

func enqueue(_ database: TestDatabase, _ jobs: [NewJob]) async throws -> [Int64] {
    try await database.withConnection { try JobQueue.enqueue(jobs, on: $0).insertedIDs.sorted() }
}

func fetchJob(_ database: TestDatabase, _ id: Int64) async throws -> Job {
    try await database.withConnection { connection in
        guard let job = try JobQueue.job(id: id, on: connection) else { throw QueueError(.notFound, "job \(id)") }
        return job
    }
}

func eventually(
    _ database: TestDatabase, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @escaping @Sendable (PostgresConnection) throws -> Bool
) async throws {
    let held = try await database.waitUntil(timeout: timeout, condition)
    #expect(held, "condition not met within \(timeout)", sourceLocation: sourceLocation)
}

/// Writes `text` to a temporary file and returns its path.
func temporaryFile(_ name: String, _ data: Data) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appending(path: "encours-e2e-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appending(path: name)
    try data.write(to: url)
    return url.path
}

/// The environment of a CLI or worker run on `database` that mails through the SMTP sink on
/// `smtpPort` and writes letters to a fresh outbox.
func deliveryEnvironment(_ database: TestDatabase, smtpPort: Int) -> [String: String] {
    [
        "ENCOURS_DATABASE_URL": database.url, "ENCOURS_SMTP_URL": "smtp://127.0.0.1:\(smtpPort)",
        "ENCOURS_OUTBOX_DIR": FileManager.default.temporaryDirectory.appending(path: "outbox-\(UUID().uuidString.prefix(8))").path,
    ]
}

func csvFile(_ name: String, _ text: String) throws -> String { try temporaryFile(name, Data(text.utf8)) }

let sageCustomers = "\u{FEFF}customer_id;name;email;language;payment_terms_days;credit_limit;on_hold\r\n"
    + "C001;\"Dupont; Fils & Cie\";compta@dupont.fr;fr;30;10\u{00A0}000,00;non\r\n"
    + "C002;Société Générale d'Œuvres;;fr;45;5 000;false\r\n"
    + "C003;\"Acme \"\"UK\"\" Ltd\";ap@acme.co.uk;en;60;;0\r\n"

/// GETs a local URL with curl; nil when nothing answers.
func httpGet(_ url: String) async -> (status: Int, body: String)? {
    let result = try? await Binaries.runSystem("/usr/bin/env", ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "2", url])
    guard let result, result.status == 0 else { return nil }
    var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
    guard let code = lines.popLast().flatMap({ Int($0) }) else { return nil }
    return (code, lines.joined(separator: "\n"))
}
