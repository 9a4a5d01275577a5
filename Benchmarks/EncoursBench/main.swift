import ArgumentParser
import EncoursTenancy
import EncoursPostgres
import EncoursQueue
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Drives the queue benchmarks that need more than the CLI: library-API enqueue, latency,
/// sustained load and fairness. Workers run as separate `encours-worker` processes started by
/// `scripts/bench`; every figure is printed as one JSON object on stdout.
@main
struct EncoursBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encours-bench",
        abstract: "Encours queue benchmark driver (see scripts/bench).",
        subcommands: [EnqueueAPI.self, Latency.self, Sustained.self, Fairness.self, WaitIdle.self])
}

struct Connection: ParsableArguments {
    @Option(name: .customLong("database-url")) var databaseURL: String

    func session(_ name: String = "bench") async throws -> PostgresSession {
        let session = PostgresSession(connectionString: databaseURL, name: name)
        try await session.connect()
        return session
    }
}

func emit(_ fields: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

func tenantID(_ slug: String, _ session: PostgresSession) async throws -> Int64 {
    try await session.withConnection { try TenantStore.find(slug: slug, on: $0).id }
}

/// Counts jobs not yet finished.
func unfinished(_ session: PostgresSession) async throws -> Int {
    try await session.withConnection { connection in
        // One count per partial index, so sampling stays cheap however many finished rows the table holds.
        try connection.query(
            """
            SELECT (SELECT count(*) FROM encours.jobs WHERE state = 'available')
                 + (SELECT count(*) FROM encours.jobs WHERE state = 'running')
                 + (SELECT count(*) FROM encours.jobs WHERE state IN ('scheduled', 'retryable'))
            """
        ).decode(Int.self, row: 0, column: 0)
    }
}

/// Polls a `count(*)` statement until it returns 0.
func waitUntilNone(
    _ sql: String, _ values: [any PostgresEncodable], on session: PostgresSession, every interval: Duration
) async throws {
    while try await session.withConnection({ try $0.query(sql, values).decode(Int.self, row: 0, column: 0) }) > 0 {
        try await Task.sleep(for: interval)
    }
}

/// The jobs a worker finished, summed over kinds and states from its Prometheus `/metrics`.
func finishedJobs(_ url: URL) async throws -> Int {
    let (data, _) = try await URLSession.shared.data(from: url)
    var total = 0.0
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("encours_jobs_finished_total{") {
        if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
    }
    return Int(total)
}

struct EnqueueAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue-api", abstract: "Enqueue N distinct jobs through the library's batch API (JobQueue.bulkEnqueue, COPY) in batches.")
    @OptionGroup var connection: Connection
    @Option var tenant = "bench-a"
    @Option var count = 100_000
    @Option var batch = 10_000

    func run() async throws {
        let session = try await connection.session()
        let tenantID = try await tenantID(tenant, session)
        let batches = stride(from: 0, to: count, by: batch).map { start in
            (start..<min(count, start + batch)).map { index in
                NewJob(tenantID: tenantID, kind: "noop", payload: "{\"n\":\(index)}")
            }
        }
        let started = ContinuousClock.now
        for jobs in batches {
            _ = try await session.withConnection { try JobQueue.bulkEnqueue(jobs, on: $0) }
        }
        let elapsed = (ContinuousClock.now - started).inSeconds
        try emit(["jobs": count, "batch": batch, "seconds": elapsed, "rate": Double(count) / elapsed])
        await session.close()
    }
}

struct Latency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enqueue a trickle of single jobs; report enqueue-to-start latency (created_at to attempted_at, server clock).")
    @OptionGroup var connection: Connection
    @Option var tenant = "bench-a"
    @Option var rate = 100
    @Option var seconds = 60
    @Option(name: .customLong("warmup-seconds")) var warmupSeconds = 1

    func run() async throws {
        let session = try await connection.session()
        let tenantID = try await tenantID(tenant, session)
        let marker = "latency-\(UUID().uuidString.prefix(8))"
        let total = rate * seconds
        let interval = Duration.seconds(1) / rate
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<total {
            let due = start + interval * index
            if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            let warm = index >= rate * warmupSeconds
            _ = try await session.withConnection { connection in
                try JobQueue.enqueue(
                    [NewJob(tenantID: tenantID, kind: "noop", payload: "{\"bench\":\"\(marker)\",\"warm\":\(warm)}")], on: connection
                ).insertedIDs.count
            }
        }
        let achieved = Double(total) / (clock.now - start).inSeconds
        try await waitUntilNone(
            "SELECT count(*) FROM encours.jobs WHERE payload->>'bench' = $1 AND attempted_at IS NULL", [marker],
            on: session, every: .milliseconds(100))
        let row = try await session.withConnection { connection -> [Double] in
            let result = try connection.query(
                """
                SELECT count(*)::float8,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY ms),
                       max(ms)
                FROM (SELECT extract(epoch FROM attempted_at - created_at) * 1000 AS ms
                      FROM encours.jobs WHERE payload->>'bench' = $1 AND payload->>'warm' = 'true') t
                """, [marker])
            return try (0..<4).map { try result.decode(Double.self, row: 0, column: $0) }
        }
        try emit(["jobs": Int(row[0]), "p50_ms": row[1], "p99_ms": row[2], "max_ms": row[3], "achieved_rate": achieved])
        await session.close()
    }
}

struct Sustained: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enqueue N jobs in batches while workers process them (backlog capped); compare the rate over the first and last tenth.")
    @OptionGroup var connection: Connection
    @Option var tenant = "bench-a"
    @Option var count = 1_000_000
    @Option var batch = 5_000
    @Option(name: .customLong("max-backlog")) var maxBacklog = 50_000
    @Option(
        name: .customLong("metrics-url"),
        help: "The worker's /metrics: progress is read from its finished-jobs counter instead of counting rows, so the database only does the queue's work.")
    var metricsURL: String?

    func run() async throws {
        let producer = try await connection.session("bench-producer")
        let tenantID = try await tenantID(tenant, producer)
        let metrics = try metricsURL.map { text in
            guard let url = URL(string: text) else { throw ValidationError("invalid --metrics-url \(text)") }
            return url
        }
        if let metrics {
            // The worker may still be starting: give its endpoint up to 30 s to answer.
            for attempt in 1... {
                do {
                    _ = try await finishedJobs(metrics)
                    break
                } catch where attempt < 300 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        let clock = ContinuousClock()
        let start = clock.now
        var enqueued = 0
        var samples: [(time: Double, processed: Int)] = [(0, 0)]
        var lastSample = start
        while true {
            let processed: Int
            if let metrics {
                processed = try await finishedJobs(metrics)
            } else {
                processed = enqueued - (try await unfinished(producer))
            }
            let backlog = enqueued - processed
            if clock.now - lastSample >= .milliseconds(250) {
                samples.append(((clock.now - start).inSeconds, processed))
                lastSample = clock.now
            }
            if processed >= count { break }
            if enqueued < count, backlog < maxBacklog {
                let size = min(batch, count - enqueued)
                _ = try await producer.withConnection { connection in
                    try JobQueue.enqueueCopies(of: NewJob(tenantID: tenantID, kind: "noop"), count: size, on: connection)
                }
                enqueued += size
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        samples.append(((clock.now - start).inSeconds, count))
        func timeReaching(_ target: Int) -> Double {
            // Linear interpolation between the samples around the target.
            guard let index = samples.firstIndex(where: { $0.processed >= target }), index > 0 else { return samples.last?.time ?? 0 }
            let (t0, p0) = samples[index - 1]
            let (t1, p1) = samples[index]
            return p1 == p0 ? t1 : t0 + (t1 - t0) * Double(target - p0) / Double(p1 - p0)
        }
        let tenth = count / 10
        let firstRate = Double(tenth) / timeReaching(tenth)
        let lastRate = Double(tenth) / (timeReaching(count) - timeReaching(count - tenth))
        let sizes = try await producer.withConnection { connection -> [Int] in
            let result = try connection.query(
                """
                SELECT pg_total_relation_size('encours.jobs'), pg_relation_size('encours.jobs'), count(*)
                FROM encours.jobs
                """)
            return try (0..<3).map { try result.decode(Int.self, row: 0, column: $0) }
        }
        let elapsed = (clock.now - start).inSeconds
        try emit([
            "jobs": count, "seconds": elapsed, "rate": Double(count) / elapsed,
            "first_tenth_rate": firstRate, "last_tenth_rate": lastRate, "last_over_first": lastRate / firstRate,
            "table_total_bytes": sizes[0], "table_heap_bytes": sizes[1], "rows_left": sizes[2],
        ])
        await producer.close()
    }
}

struct Fairness: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tenant A gets a backlog, then tenant B a few jobs; report how long until all of B's jobs started.")
    @OptionGroup var connection: Connection
    @Option(name: .customLong("tenant-a")) var tenantA = "bench-a"
    @Option(name: .customLong("tenant-b")) var tenantB = "bench-b"
    @Option(name: .customLong("backlog")) var backlog = 50_000
    @Option(name: .customLong("count-b")) var countB = 100

    func run() async throws {
        let session = try await connection.session()
        let a = try await tenantID(tenantA, session)
        let b = try await tenantID(tenantB, session)
        _ = try await session.withConnection { try JobQueue.enqueueCopies(of: NewJob(tenantID: a, kind: "noop"), count: backlog, on: $0) }
        _ = try await session.withConnection { try JobQueue.enqueueCopies(of: NewJob(tenantID: b, kind: "noop"), count: countB, on: $0) }
        try await waitUntilNone(
            "SELECT count(*) FROM encours.jobs WHERE tenant_id = $1 AND attempted_at IS NULL", [b],
            on: session, every: .milliseconds(10))
        let figures = try await session.withConnection { connection -> [Double] in
            let result = try connection.query(
                """
                SELECT extract(epoch FROM max(attempted_at) - min(created_at))::float8,
                       (SELECT count(*) FROM encours.jobs WHERE tenant_id = $2 AND attempted_at IS NOT NULL)::float8
                FROM encours.jobs WHERE tenant_id = $1
                """, [b, a])
            return try (0..<2).map { try result.decode(Double.self, row: 0, column: $0) }
        }
        try emit(["b_jobs": countB, "backlog": backlog, "seconds_until_b_started": figures[0], "a_started_meanwhile": Int(figures[1])])
        await session.close()
    }
}

struct WaitIdle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wait-idle", abstract: "Wait until no job is waiting or running.")
    @OptionGroup var connection: Connection

    func run() async throws {
        let session = try await connection.session()
        while try await unfinished(session) > 0 { try await Task.sleep(for: .milliseconds(50)) }
        await session.close()
    }
}
