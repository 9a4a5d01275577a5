import EncoursAdmin
import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue
import EncoursTenancy
import Foundation

/// What `encours demo` runs against and with.
public struct DemoConfiguration: Sendable {
    /// The database; nil starts a throwaway local cluster (deleted at the end).
    public var databaseURL: String?
    /// Customers of the demo tenant (a few thousand invoices for 300).
    public var customers: Int
    /// Worker processes.
    public var workers: Int
    /// Where the workers write the letters (`<outbox>/demo/reminder-N.html`) and their logs.
    public var outboxDirectory: String
    /// The `encours-worker` executable.
    public var workerPath: String
    /// `ENCOURS_SMTP_URL` for the workers, if any (escalation emails then leave too).
    public var smtpURL: String?

    public init(
        databaseURL: String?, customers: Int = 300, workers: Int = 2, outboxDirectory: String = "encours-demo-outbox",
        workerPath: String, smtpURL: String? = nil
    ) {
        self.databaseURL = databaseURL
        self.customers = customers
        self.workers = workers
        self.outboxDirectory = outboxDirectory
        self.workerPath = workerPath
        self.smtpURL = smtpURL
    }
}

/// `encours demo`: a French SME's receivables, run through real worker processes.
///
/// Starts a throwaway PostgreSQL cluster when given no database, migrates, creates the tenant
/// `demo` with a letter-only dunning policy, imports a generated ledger (customers, invoices,
/// payments, disputes) and promises, starts worker processes, runs four dunning runs two weeks
/// apart (so customers climb the levels), a risk recalculation and a dispute escalation, waits
/// until every letter is in the outbox, then stops the workers and the cluster.
public enum Demo {
    /// The demo tenant's slug.
    public static let tenantSlug = "demo"

    /// Runs the demo; `progress` gets a line per step.
    public static func run(_ configuration: DemoConfiguration, progress: @escaping @Sendable (String) -> Void) async throws -> DemoSummary {
        let started = ContinuousClock.now
        var cluster: ThrowawayCluster?
        var workers: [Process] = []
        do {
            let url: String
            if let given = configuration.databaseURL {
                url = given
            } else {
                let local = try await ThrowawayCluster.start()
                cluster = local
                progress("started a throwaway PostgreSQL cluster on 127.0.0.1:\(local.port) (\(local.directory))")
                try await PostgresSession.once(connectionString: local.url, name: "encours-demo") { connection in
                    try connection.execute("CREATE DATABASE encours_demo")
                }
                url = "postgresql://postgres@127.0.0.1:\(local.port)/encours_demo"
            }
            let summary = try await runSteps(configuration, url: url, started: started, progress: progress) { workers = $0 }
            await stop(workers, progress: progress)
            workers = []
            if let cluster {
                await cluster.stop()
                progress("stopped and deleted the throwaway cluster")
            }
            return summary
        } catch {
            await stop(workers, progress: progress)
            await cluster?.stop()
            throw error
        }
    }

    static func runSteps(
        _ configuration: DemoConfiguration, url: String, started: ContinuousClock.Instant, progress: @escaping @Sendable (String) -> Void,
        workersStarted: ([Process]) -> Void
    ) async throws -> DemoSummary {
        let scratch = FileManager.default.temporaryDirectory.appending(path: "encours-demo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outbox = URL(fileURLWithPath: configuration.outboxDirectory).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)

        // Schema, tenant, policy.
        let today = try CalendarDate(parsing: Self.today(in: TimeZone(identifier: "Europe/Paris")!))
        let ledger = try DemoLedger(customers: configuration.customers, today: today)
        let policyPath = scratch + "/policy.json"
        try Self.letterPolicy.write(toFile: policyPath, atomically: true, encoding: .utf8)
        for (name, text) in [("customers", ledger.customersCSV), ("invoices", ledger.invoicesCSV), ("payments", ledger.paymentsCSV),
                             ("disputes", ledger.disputesCSV)] {
            try text.write(toFile: "\(scratch)/\(name).csv", atomically: true, encoding: .utf8)
        }
        let tenantID = try await PostgresSession.once(connectionString: url, name: "encours-demo") { connection -> Int64 in
            _ = try Admin.migrate(on: connection)
            if (try? TenantStore.find(slug: tenantSlug, on: connection)) != nil {
                throw DemoError("this database already has a tenant \"\(tenantSlug)\": run the demo on a fresh database (or without --database-url)")
            }
            let tenant = try TenantAdmin.create(slug: tenantSlug, name: "Atelier Dupont SAS", timezone: "Europe/Paris", on: connection)
            _ = try DunningAdmin.setPolicy(tenantSlug: tenantSlug, path: policyPath, on: connection)
            return tenant.id
        }
        progress("migrated; tenant \(tenantSlug) (Atelier Dupont SAS, Europe/Paris), letters for every dunning level")

        let imported = try await PostgresSession.once(connectionString: url, name: "encours-demo") { connection -> [String] in
            var lines: [String] = []
            for kind in ["customers", "invoices", "payments", "disputes"] {
                let outcome = try LedgerAdmin.importFile(
                    kind: kind, tenantSlug: tenantSlug, path: "\(scratch)/\(kind).csv", dryRun: false, on: connection)
                lines.append("\(outcome.inserted) \(kind)")
            }
            for promise in ledger.promises {
                _ = try LedgerAdmin.addPromise(
                    tenantSlug: tenantSlug, customerID: promise.customerID, amount: promise.amount, date: promise.date, invoiceID: nil,
                    on: connection)
            }
            return lines + ["\(ledger.promises.count) promises"]
        }
        progress("imported " + imported.joined(separator: ", "))

        // Worker processes.
        var environment = ProcessInfo.processInfo.environment
        environment["ENCOURS_DATABASE_URL"] = url
        environment["ENCOURS_OUTBOX_DIR"] = outbox
        if let smtp = configuration.smtpURL { environment["ENCOURS_SMTP_URL"] = smtp } else { environment["ENCOURS_SMTP_URL"] = nil }
        let workers = try (1...max(1, configuration.workers)).map { number in
            try ChildProcess.start(
                configuration.workerPath, ["--concurrency", "8", "--no-schedules", "--log-level", "warning", "--retry-base-seconds", "1"],
                outputPath: "\(outbox)/worker-\(number).log", environment: environment)
        }
        workersStarted(workers)
        progress("started \(workers.count) encours-worker processes (logs in \(outbox)/worker-N.log)")

        // Four dunning runs two weeks apart, then risk and disputes, each waited for.
        var runDates: [String] = []
        for weeksBack in [6, 4, 2, 0] {
            let date = try CalendarDate(daysSinceEpoch: today.daysSinceEpoch - 7 * weeksBack).isoString
            let queued = try await PostgresSession.once(connectionString: url, name: "encours-demo") {
                try DunningAdmin.enqueueRun(tenantSlug: tenantSlug, asOf: date, on: $0)
            }
            try await waitForJob(queued.jobID, url: url, what: "the dunning run at \(date)")
            runDates.append(date)
            progress("dunning run at \(date) done (job \(queued.jobID))")
        }
        let recalc = try await PostgresSession.once(connectionString: url, name: "encours-demo") {
            try RiskAdmin.enqueueRecalc(tenantSlug: tenantSlug, customerID: nil, asOf: nil, on: $0)
        }
        try await waitForJob(recalc.jobID, url: url, what: "the risk recalculation")
        progress("risk recalculation done (job \(recalc.jobID))")
        let escalation = try await PostgresSession.once(connectionString: url, name: "encours-demo") {
            try DisputeAdmin.enqueueEscalation(tenantSlug: tenantSlug, at: nil, on: $0)
        }
        try await waitForJob(escalation.jobID, url: url, what: "the dispute escalation")
        progress("dispute escalation at \(escalation.at) done (job \(escalation.jobID))")
        try await waitUntil(url: url, what: "the letters", timeout: .seconds(120)) { connection in
            try connection.query(
                "SELECT count(*) FROM encours.reminders WHERE tenant_id = $1 AND status = 'pending'", [tenantID]
            ).decode(Int.self, row: 0, column: 0) == 0
        }
        progress("every reminder delivered")
        let dates = runDates
        return try await PostgresSession.once(connectionString: url, name: "encours-demo") { connection in
            try DemoSummary.read(
                tenantID: tenantID, today: today.isoString, runDates: dates, escalationAt: escalation.at, outbox: outbox,
                workers: workers.count, seconds: (ContinuousClock.now - started).inSeconds, on: connection)
        }
    }

    /// The demo's policy: the standard levels, every one by letter (the demo has no mail server).
    static let letterPolicy = """
        {"name": "standard", "min_amount": "15.00", "min_days_between_reminders": 7, "levels": [
          {"level": 1, "days_after_due": 1, "channel": "letter", "template": "friendly"},
          {"level": 2, "days_after_due": 15, "channel": "letter", "template": "firm"},
          {"level": 3, "days_after_due": 30, "channel": "letter", "template": "formal_notice", "charge_penalties": true},
          {"level": 4, "days_after_due": 45, "channel": "letter", "template": "collection_handoff"}]}
        """

    /// Today's date in `zone`, `YYYY-MM-DD`.
    static func today(in zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day], from: Date())
        return String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
    }

    /// Waits until job `id` completed; throws if it ended otherwise or took over 3 minutes.
    static func waitForJob(_ id: Int64, url: String, what: String) async throws {
        try await waitUntil(url: url, what: what, timeout: .seconds(180)) { connection in
            guard let job = try JobQueue.job(id: id, on: connection) else { throw DemoError("\(what): job \(id) vanished") }
            switch job.state {
            case .completed: return true
            case .discarded, .cancelled:
                throw DemoError("\(what) (job \(id)) ended \(job.state.rawValue): \(job.errors.last?.error ?? "no error recorded")")
            default: return false
            }
        }
    }

    /// Polls `condition` every 200 ms on one connection until it holds.
    static func waitUntil(
        url: String, what: String, timeout: Duration, _ condition: @escaping @Sendable (PostgresConnection) throws -> Bool
    ) async throws {
        let session = PostgresSession(connectionString: url, name: "encours-demo-wait")
        let deadline = ContinuousClock.now + timeout
        do {
            while try await !session.withConnection(condition) {
                guard ContinuousClock.now < deadline else { throw DemoError("\(what) did not finish within \(Int(timeout.inSeconds)) s") }
                try await Task.sleep(for: .milliseconds(200))
            }
        } catch {
            await session.close()
            throw error
        }
        await session.close()
    }

    /// SIGTERM to each worker, then waits for it (a worker drains its jobs first).
    static func stop(_ workers: [Process], progress: @Sendable (String) -> Void) async {
        guard !workers.isEmpty else { return }
        for worker in workers { ChildProcess.terminate(worker) }
        var statuses: [Int32] = []
        for worker in workers { statuses.append(await ChildProcess.exit(of: worker)) }
        progress("stopped the workers (exit \(statuses.map(String.init).joined(separator: ", ")))")
    }
}
