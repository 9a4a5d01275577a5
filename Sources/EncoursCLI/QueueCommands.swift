import ArgumentParser
import EncoursAdmin
import EncoursJobs
import EncoursPostgres
import EncoursQueue
import EncoursRuntime
import EncoursTenancy
import Foundation

struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enqueue a job (or --count identical jobs in one batch).")
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "Job kind: \(JobCatalog.kinds.joined(separator: ", ")).") var kind: String
    @Option(help: "Tenant slug.") var tenant: String
    @Option(help: "Payload, a JSON object.") var payload: String?
    @Option(name: .customLong("payload-file"), help: "Read the payload from this file (- for standard input); for payloads too long for a shell argument.")
    var payloadFile: String?
    @Option(name: .customLong("run-at"), help: "When to run: ISO 8601 (with an offset, or local to the tenant's time zone).")
    var runAt: String?
    @Option(help: "1 (most urgent) to 4.") var priority = 2
    @Option(name: .customLong("unique-key"), help: "At most one unfinished job per tenant, kind and key.") var uniqueKey: String?
    @Option(help: "Insert this many identical jobs in one statement (at most 1,000,000).") var count = 1
    @Option(name: .customLong("max-attempts"), help: "Attempts before the job is discarded.") var maxAttempts = 20
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let payloadText: String
        do {
            switch (payload, payloadFile) {
            case (let text?, nil): payloadText = text
            case (nil, let path?): payloadText = try Admin.readPayload(path: path)
            case (nil, nil): payloadText = "{}"
            case (_?, _?): throw AdminError(.invalidInput, "give --payload or --payload-file, not both")
            }
        } catch {
            fail(error)
        }
        let request = Admin.EnqueueRequest(
            kind: kind, tenantSlug: tenant, payload: payloadText, runAt: runAt, priority: priority,
            uniqueKey: uniqueKey, count: count, maxAttempts: maxAttempts)
        do { try request.validate() } catch { fail(error) }
        let line = ProgressLine("enqueueing \(request.kind)", json: json || request.count < 100_000)
        let total = request.count
        let outcome = try await database.run {
            try Admin.enqueue(request, progress: { line.update(done: $0, total: total, unit: "jobs") }, on: $0)
        }
        line.finish()
        if json { try printJSON(outcome); return }
        if request.count > 1 {
            print("enqueued \(outcome.inserted) \(request.kind) jobs for \(request.tenantSlug)")
        } else if let id = outcome.jobIDs.first {
            print("enqueued job \(id)")
        } else {
            print("not enqueued: an unfinished \(request.kind) job already has unique key \(request.uniqueKey ?? "")")
        }
    }
}

struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Queue state for operators and monitoring.", subcommands: [Stats.self, Check.self])

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Job counts by state, kind and tenant; live workers.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this tenant.") var tenant: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let tenant = self.tenant
            let stats = try await database.run { connection in
                let tenantID = try tenant.map { try TenantStore.find(slug: $0, on: connection).id }
                return try QueueStats.fetch(tenantID: tenantID, on: connection)
            }
            if json { try printJSON(stats); return }
            func cells(_ counts: StateCounts) -> [String] {
                [counts.available, counts.scheduled, counts.running, counts.retryable, counts.completed, counts.discarded, counts.cancelled].map(String.init)
            }
            print(Output.table(["", "AVAILABLE", "SCHEDULED", "RUNNING", "RETRYABLE", "COMPLETED", "DISCARDED", "CANCELLED"],
                [["all"] + cells(stats.jobs)]
                    + stats.byKind.map { ["kind \($0.kind)"] + cells($0.counts) }
                    + stats.byTenant.map { ["tenant \($0.tenant)"] + cells($0.counts) }))
            print("oldest available job: \(Int(stats.oldestAvailableSeconds)) s")
            print("running jobs with a lapsed lease: \(stats.lapsedLeases)"
                + (stats.lapsedLeases > 0 ? " (oldest lapsed \(Int(stats.oldestLapsedLeaseSeconds)) s ago)" : ""))
            print("")
            print(Output.table(["WORKER", "HOST", "PID", "STARTED_AT", "LAST_HEARTBEAT_AT", "RUNNING"],
                stats.workers.map { [$0.id, $0.host, String($0.pid), Output.iso8601($0.startedAt), Output.iso8601($0.lastHeartbeatAt), String($0.running)] }))
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Monitoring-plugin check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            discussion: "A value over its threshold warns; over twice it is critical. No live worker while jobs wait is critical.")
        @OptionGroup var database: DatabaseOptions
        @Option(name: .customLong("max-oldest-age"), help: "Seconds the oldest available job may wait.") var maxOldestAge: Double = 300
        @Option(name: .customLong("max-discarded"), help: "Discarded jobs tolerated (unchecked if absent).") var maxDiscarded: Int?
        @Option(name: .customLong("max-retryable"), help: "Retryable jobs tolerated (unchecked if absent).") var maxRetryable: Int?
        @Option(name: .customLong("max-lapsed-leases"), help: "Running jobs with a lapsed lease tolerated before WARNING.")
        var maxLapsedLeases = 0
        @Option(name: .customLong("max-lapse-seconds"), help: "A lapsed lease not rescued for this long is CRITICAL.")
        var maxLapseSeconds: Double = 60

        func run() async throws {
            guard maxOldestAge >= 0, maxLapseSeconds >= 0, maxLapsedLeases >= 0, (maxDiscarded ?? 0) >= 0, (maxRetryable ?? 0) >= 0 else {
                print("ENCOURS QUEUE UNKNOWN - thresholds must not be negative")
                fail(AdminError(.invalidInput, "queue check thresholds must not be negative"), status: 3)
            }
            let check = QueueCheck(
                maxOldestAgeSeconds: maxOldestAge, maxDiscarded: maxDiscarded, maxRetryable: maxRetryable,
                maxLapsedLeases: maxLapsedLeases, maxLapseSeconds: maxLapseSeconds)
            let stats: QueueStats
            do {
                stats = try await PostgresSession.once(connectionString: try database.url(), name: "encours-cli") {
                    try QueueStats.fetch(on: $0)
                }
            } catch {
                print("ENCOURS QUEUE UNKNOWN - \(ErrorMessage.line(for: error))")
                throw ExitCode(3)
            }
            let (status, line) = check.evaluate(stats)
            print(line)
            if status != .ok { throw ExitCode(status.rawValue) }
        }
    }
}

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, show, retry and cancel jobs.",
        subcommands: [List.self, Show.self, Retry.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this state.") var state: String?
        @Option(help: "Only this kind.") var kind: String?
        @Option(help: "Only this tenant.") var tenant: String?
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            var filter = JobQueue.ListFilter(kind: kind, limit: limit)
            if let state {
                guard let parsed = JobState(rawValue: state) else {
                    fail(AdminError(.invalidInput, "unknown state \"\(state)\": expected one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
                filter.state = parsed
            }
            guard (1...100_000).contains(limit) else { fail(AdminError(.invalidInput, "invalid --limit \(limit): use 1 to 100000")) }
            let (tenant, baseFilter) = (self.tenant, filter)
            let views = try await database.run { connection -> [JobView] in
                var filter = baseFilter
                if let tenant { filter.tenantID = try TenantStore.find(slug: tenant, on: connection).id }
                let slugs = Dictionary(uniqueKeysWithValues: try TenantStore.list(on: connection).map { ($0.id, $0.slug) })
                return try JobQueue.list(filter, on: connection).map { JobView($0, tenantSlug: slugs[$0.tenantID] ?? "?") }
            }
            if json { try printJSON(views); return }
            print(Output.table(["ID", "STATE", "KIND", "TENANT", "PRIORITY", "ATTEMPT", "RUN_AT"],
                views.map { [String($0.id), $0.state, $0.kind, $0.tenant, String($0.priority), "\($0.attempt)/\($0.maxAttempts)", Output.iso8601($0.runAt)] }))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job with its attempts' errors.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: Int64
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let id = self.id
            let view = try await database.run { connection -> JobView in
                guard let job = try JobQueue.job(id: id, on: connection) else { throw AdminError(.notFound, "no job with id \(id)") }
                return JobView(job, tenantSlug: try TenantStore.find(id: job.tenantID, on: connection)?.slug ?? "?")
            }
            if json { try printJSON(view); return }
            print(try Output.json(view))
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a finished or retryable job available again now.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: Int64

        func run() async throws {
            let id = self.id
            let job = try await database.run { try JobQueue.retry(id: id, on: $0) }
            print("job \(job.id) is \(job.state.rawValue)")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a waiting job, or ask a running job's worker to cancel it.")
        @OptionGroup var database: DatabaseOptions
        @Argument var id: Int64

        func run() async throws {
            let id = self.id
            let job = try await database.run { try JobQueue.cancel(id: id, on: $0) }
            if job.state == .running {
                print("job \(job.id) is running: its worker has been asked to cancel it")
            } else {
                print("job \(job.id) is \(job.state.rawValue)")
            }
        }
    }
}
