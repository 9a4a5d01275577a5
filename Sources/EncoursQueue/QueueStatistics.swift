import EncoursPostgres
import Foundation

/// Job counts by state, as `queue stats` shows them.
public struct StateCounts: Sendable, Hashable, Encodable {
    public var available = 0, scheduled = 0, running = 0, retryable = 0, completed = 0, discarded = 0, cancelled = 0

    public init() {}

    mutating func add(_ state: JobState, _ count: Int) {
        switch state {
        case .available: available += count
        case .scheduled: scheduled += count
        case .running: running += count
        case .retryable: retryable += count
        case .completed: completed += count
        case .discarded: discarded += count
        case .cancelled: cancelled += count
        }
    }
}

/// The queue's state at one moment: what `queue stats` prints and `queue check` judges.
public struct QueueStats: Sendable, Encodable {
    public struct KindCounts: Sendable, Encodable {
        public var kind: String
        public var counts: StateCounts
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: DynamicKey.self)
            try container.encode(kind, forKey: DynamicKey("kind"))
            try counts.encode(to: encoder)
        }
    }
    public struct TenantCounts: Sendable, Encodable {
        public var tenant: String
        public var counts: StateCounts
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: DynamicKey.self)
            try container.encode(tenant, forKey: DynamicKey("tenant"))
            try counts.encode(to: encoder)
        }
    }
    public struct Worker: Sendable, Encodable {
        public var id: String
        public var host: String
        public var pid: Int
        public var startedAt: Date
        public var lastHeartbeatAt: Date
        public var running: Int
        enum CodingKeys: String, CodingKey {
            case id, host, pid, running
            case startedAt = "started_at"
            case lastHeartbeatAt = "last_heartbeat_at"
        }
    }

    public var generatedAt: Date
    public var jobs: StateCounts
    /// Seconds the oldest available job has waited (0 when none is waiting).
    public var oldestAvailableSeconds: Double
    /// Running jobs whose lease lapsed (their worker stopped renewing it; the maintainer rescues them).
    public var lapsedLeases: Int
    /// Seconds since the oldest lapsed lease expired (0 when none).
    public var oldestLapsedLeaseSeconds: Double
    public var byKind: [KindCounts]
    public var byTenant: [TenantCounts]
    public var workers: [Worker]

    enum CodingKeys: String, CodingKey {
        case jobs, workers
        case generatedAt = "generated_at"
        case oldestAvailableSeconds = "oldest_available_seconds"
        case lapsedLeases = "lapsed_leases"
        case oldestLapsedLeaseSeconds = "oldest_lapsed_lease_seconds"
        case byKind = "by_kind"
        case byTenant = "by_tenant"
    }

    /// Reads the stats, optionally for one tenant.
    public static func fetch(tenantID: Int64? = nil, on connection: PostgresConnection) throws -> QueueStats {
        let now: Date = try connection.query("SELECT now()").decode(Date.self, row: 0, column: 0)
        let rows = try connection.query(
            """
            SELECT t.slug, j.kind, j.state::text, count(*)::bigint
            FROM encours.jobs j JOIN encours.tenants t ON t.id = j.tenant_id
            WHERE $1::bigint IS NULL OR j.tenant_id = $1
            GROUP BY t.slug, j.kind, j.state
            """, [tenantID]
        ).rows
        var total = StateCounts()
        var kinds: [String: StateCounts] = [:]
        var tenants: [String: StateCounts] = [:]
        for row in rows {
            let slug: String = try row.decode(0)
            let kind: String = try row.decode(1)
            let state: JobState = try row.decode(2)
            let count: Int = try row.decode(3)
            total.add(state, count)
            kinds[kind, default: StateCounts()].add(state, count)
            tenants[slug, default: StateCounts()].add(state, count)
        }
        let oldest = try connection.query(
            """
            SELECT coalesce(extract(epoch FROM now() - min(run_at)), 0)::double precision
            FROM encours.jobs WHERE state = 'available' AND ($1::bigint IS NULL OR tenant_id = $1)
            """, [tenantID]
        ).decode(Double.self, row: 0, column: 0)
        let lapsed = try connection.query(
            """
            SELECT count(*)::bigint, coalesce(extract(epoch FROM now() - min(lease_expires_at)), 0)::double precision
            FROM encours.jobs
            WHERE state = 'running' AND lease_expires_at < now() AND ($1::bigint IS NULL OR tenant_id = $1)
            """, [tenantID]
        )
        let workers = try connection.query(
            """
            SELECT w.id, w.host, w.pid, w.started_at, w.last_heartbeat_at,
                   (SELECT count(*) FROM encours.jobs j WHERE j.state = 'running' AND j.worker_id = w.id)::bigint
            FROM encours.workers w ORDER BY w.started_at, w.id
            """
        ).rows.map { row in
            Worker(
                id: try row.decode(0), host: try row.decode(1), pid: try row.decode(2),
                startedAt: try row.decode(3), lastHeartbeatAt: try row.decode(4), running: try row.decode(5))
        }
        return QueueStats(
            generatedAt: now, jobs: total, oldestAvailableSeconds: max(0, oldest),
            lapsedLeases: try lapsed.decode(Int.self, row: 0, column: 0),
            oldestLapsedLeaseSeconds: max(0, try lapsed.decode(Double.self, row: 0, column: 1)),
            byKind: kinds.keys.sorted().map { KindCounts(kind: $0, counts: kinds[$0]!) },
            byTenant: tenants.keys.sorted().map { TenantCounts(tenant: $0, counts: tenants[$0]!) },
            workers: workers)
    }

    /// Workers that heartbeated within `window` of `generatedAt`.
    public func liveWorkers(within window: TimeInterval = 120) -> [Worker] {
        workers.filter { generatedAt.timeIntervalSince($0.lastHeartbeatAt) <= window }
    }
}

/// A coding key made from any string (JSON objects whose keys are data).
public struct DynamicKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ string: String) { stringValue = string }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

/// `queue check`: a monitoring-plugin verdict on the queue.
public struct QueueCheck: Sendable {
    /// Exit statuses of the monitoring-plugin convention.
    public enum Status: Int32, Sendable, Comparable {
        case ok = 0, warning = 1, critical = 2, unknown = 3
        public static func < (lhs: Status, rhs: Status) -> Bool { lhs.rawValue < rhs.rawValue }
        var label: String { ["OK", "WARNING", "CRITICAL", "UNKNOWN"][Int(rawValue)] }
    }

    /// Thresholds; nil disables a check. A value over its threshold warns; over twice it, is critical.
    public var maxOldestAgeSeconds: Double?
    public var maxDiscarded: Int?
    public var maxRetryable: Int?
    /// Running jobs with a lapsed lease tolerated (default 0): more warn, more than twice as
    /// many (or any, with 0) are critical once the oldest lapsed more than `maxLapseSeconds` ago.
    public var maxLapsedLeases: Int
    /// How long a lapsed lease may wait for its rescue before it is critical (default 60 s:
    /// the maintainer rescues within a quarter lease; a lease lapsed that long means none runs).
    public var maxLapseSeconds: Double

    public init(
        maxOldestAgeSeconds: Double? = 300, maxDiscarded: Int? = nil, maxRetryable: Int? = nil, maxLapsedLeases: Int = 0,
        maxLapseSeconds: Double = 60
    ) {
        self.maxOldestAgeSeconds = maxOldestAgeSeconds
        self.maxDiscarded = maxDiscarded
        self.maxRetryable = maxRetryable
        self.maxLapsedLeases = maxLapsedLeases
        self.maxLapseSeconds = maxLapseSeconds
    }

    /// The status and its one-line message (with performance data after `|`).
    public func evaluate(_ stats: QueueStats) -> (Status, String) {
        var status = Status.ok
        var problems: [String] = []
        func judge(_ name: String, _ value: Double, _ limit: Double?) {
            guard let limit else { return }
            if value > limit * 2 {
                status = max(status, .critical)
                problems.append("\(name) \(Self.number(value)) > 2×\(Self.number(limit))")
            } else if value > limit {
                status = max(status, .warning)
                problems.append("\(name) \(Self.number(value)) > \(Self.number(limit))")
            }
        }
        judge("oldest available job waited", stats.oldestAvailableSeconds, maxOldestAgeSeconds)
        judge("discarded jobs", Double(stats.jobs.discarded), maxDiscarded.map(Double.init))
        judge("retryable jobs", Double(stats.jobs.retryable), maxRetryable.map(Double.init))
        if stats.lapsedLeases > maxLapsedLeases {
            let overdue = stats.oldestLapsedLeaseSeconds > maxLapseSeconds
            let many = maxLapsedLeases > 0 && stats.lapsedLeases > 2 * maxLapsedLeases
            status = max(status, overdue || many ? .critical : .warning)
            problems.append(
                "\(stats.lapsedLeases) running jobs with a lapsed lease (oldest \(Self.number(stats.oldestLapsedLeaseSeconds.rounded())) s ago)"
                    + (overdue ? ", not rescued within \(Self.number(maxLapseSeconds)) s" : ""))
        }
        let live = stats.liveWorkers().count
        if live == 0, stats.jobs.available + stats.jobs.running > 0 {
            status = max(status, .critical)
            problems.append("no live worker while jobs wait")
        }
        let summary = problems.isEmpty ? "queue healthy" : problems.joined(separator: "; ")
        let performance = "available=\(stats.jobs.available) running=\(stats.jobs.running) "
            + "retryable=\(stats.jobs.retryable) discarded=\(stats.jobs.discarded) "
            + "oldest_available=\(Self.number(stats.oldestAvailableSeconds))s lapsed_leases=\(stats.lapsedLeases) workers=\(live)"
        return (status, "ENCOURS QUEUE \(status.label) - \(summary) | \(performance)")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(format: "%.1f", value)
    }
}
