import EncoursPostgres
import Foundation

/// How a worker behaves; every field has a documented default.
public struct WorkerConfiguration: Sendable {
    /// This worker's id in the registry and on the jobs it claims (default: host-pid-random).
    public var workerID: String
    /// Jobs run at once (default 10).
    public var concurrency: Int
    /// The most jobs claimed in one round trip (default 100; never more than free slots).
    public var batchSize: Int
    /// Lease of a claimed job; heartbeats extend it (default 30 s). See ``LeaseTimings``.
    public var lease: Duration
    /// How often to look for jobs when no notification comes (default 1 s with LISTEN, 200 ms without).
    public var pollInterval: Duration
    /// Wake on LISTEN/NOTIFY; false for PgBouncer transaction pooling (default true).
    public var listen: Bool
    /// Exit once no job this worker may take is available or running (default false).
    public var drain: Bool
    /// Only these tenants' jobs (ids); nil for all.
    public var tenantIDs: [Int64]?
    /// Never these tenants' jobs (ids).
    public var excludedTenantIDs: [Int64]?
    /// Only these kinds (intersected with the kinds that have a handler); nil for all handled kinds.
    public var kinds: [String]?
    /// Backoff between failed attempts, and after a job's worker was lost.
    public var retryPolicy: RetryPolicy
    /// How long running jobs may take to finish after SIGTERM before being released (default 30 s).
    public var shutdownGracePeriod: Duration
    /// How long the results not yet recorded at shutdown are retried before the worker gives up
    /// on them and logs them (default 5 s; their leases lapse and they are rescued).
    public var finalRecordTimeout: Duration
    /// How often scheduled/retryable jobs are promoted when due (default 1 s).
    public var promotionInterval: Duration
    /// Completed and cancelled jobs are deleted after this age (default 24 h).
    public var completedRetention: Duration
    /// Discarded jobs are deleted after this age (default 7 days).
    public var discardedRetention: Duration
    /// How often the elected leader prunes finished jobs past retention and vacuums the table (default 5 s).
    public var pruneInterval: Duration
    /// Connections for handlers' own database work (default: `concurrency`, opened lazily).
    public var handlerConnections: Int
    /// Wait for the WAL flush when committing claims (default false: a claim lost in a server
    /// crash only makes its jobs available again after their lease, which at-least-once allows).
    public var durableClaims: Bool
    /// Claim loops, each with its own connection, so one claim's round trip (and the decoding of
    /// its jobs) overlaps another's. Default: 2 when `concurrency` holds at least two batches, else
    /// 1 (with batch = concurrency a second loop would only split the batches; see BENCHMARKS.md).
    public var claimConnections: Int
    /// The most finished jobs whose results wait to be recorded; claiming stops while the backlog
    /// is full (default: 4 × `concurrency`, at least 1,000: results are written in batches, and a
    /// smaller bound stalls the claim loops behind every write).
    public var maximumUnrecorded: Int
    /// How often the database is pinged for `/healthz` (default 1 s).
    public var healthCheckInterval: Duration
    /// `/healthz` fails once no round trip succeeded for this long (default 3 s).
    public var healthStaleness: Duration

    public init(
        workerID: String = WorkerConfiguration.defaultWorkerID(),
        concurrency: Int = 10,
        batchSize: Int = 100,
        lease: Duration = .seconds(30),
        pollInterval: Duration? = nil,
        listen: Bool = true,
        drain: Bool = false,
        tenantIDs: [Int64]? = nil,
        excludedTenantIDs: [Int64]? = nil,
        kinds: [String]? = nil,
        retryPolicy: RetryPolicy = RetryPolicy(),
        shutdownGracePeriod: Duration = .seconds(30),
        finalRecordTimeout: Duration = .seconds(5),
        promotionInterval: Duration = .seconds(1),
        completedRetention: Duration = .seconds(24 * 3600),
        discardedRetention: Duration = .seconds(7 * 24 * 3600),
        pruneInterval: Duration = .seconds(5),
        handlerConnections: Int? = nil,
        durableClaims: Bool = false,
        claimConnections: Int? = nil,
        maximumUnrecorded: Int? = nil,
        healthCheckInterval: Duration = .seconds(1),
        healthStaleness: Duration = .seconds(3)
    ) {
        self.workerID = workerID
        self.concurrency = max(1, concurrency)
        self.batchSize = max(1, batchSize)
        self.lease = lease
        self.pollInterval = pollInterval ?? (listen ? .seconds(1) : .milliseconds(200))
        self.listen = listen
        self.drain = drain
        self.tenantIDs = tenantIDs
        self.excludedTenantIDs = excludedTenantIDs
        self.kinds = kinds
        self.retryPolicy = retryPolicy
        self.shutdownGracePeriod = shutdownGracePeriod
        self.finalRecordTimeout = finalRecordTimeout
        self.promotionInterval = promotionInterval
        self.completedRetention = completedRetention
        self.discardedRetention = discardedRetention
        self.pruneInterval = pruneInterval
        self.handlerConnections = max(1, handlerConnections ?? concurrency)
        self.durableClaims = durableClaims
        self.claimConnections = max(1, claimConnections ?? Self.defaultClaimConnections(concurrency: concurrency, batchSize: batchSize))
        self.maximumUnrecorded = max(1, maximumUnrecorded ?? max(4 * concurrency, 1_000))
        self.healthCheckInterval = healthCheckInterval
        self.healthStaleness = healthStaleness
    }

    /// Two claim loops when the concurrency holds two full batches, else one.
    public static func defaultClaimConnections(concurrency: Int, batchSize: Int) -> Int {
        concurrency >= 2 * batchSize ? 2 : 1
    }

    /// `host-pid-xxxx`: unique per process, readable in `queue stats`.
    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let suffix = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(suffix)"
    }

    /// The ranges the worker accepts, so a typo (a negative grace, a 30-year lease) is refused
    /// at start instead of misbehaving later.
    public enum Limits {
        public static let concurrency = 1...10_000
        public static let batchSize = 1...10_000
        public static let lease: ClosedRange<Duration> = .seconds(1)...(.seconds(3600))
        public static let pollInterval: ClosedRange<Duration> = .milliseconds(10)...(.seconds(600))
        public static let shutdownGracePeriod: ClosedRange<Duration> = .zero...(.seconds(3600))
        public static let retryBase: ClosedRange<Duration> = .milliseconds(10)...(.seconds(86_400))
        public static let retention: ClosedRange<Duration> = .zero...(.seconds(10 * 365 * 86_400))
        public static let claimConnections = 1...16
    }

    /// Throws `invalidInput` naming the first field outside ``Limits``.
    public func validate() throws(QueueError) {
        func check<Value: Comparable>(_ name: String, _ value: Value, _ range: ClosedRange<Value>, _ shown: (Value) -> String) throws(QueueError) {
            guard range.contains(value) else {
                throw QueueError(.invalidInput, "\(name) \(shown(value)) is out of range: use \(shown(range.lowerBound)) to \(shown(range.upperBound))")
            }
        }
        let number = { (value: Int) in String(value) }
        let seconds = { (value: Duration) in Self.secondsText(value) }
        try check("concurrency", concurrency, Limits.concurrency, number)
        try check("batch size", batchSize, Limits.batchSize, number)
        try check("claim connections", claimConnections, Limits.claimConnections, number)
        try check("lease", lease, Limits.lease, seconds)
        try check("poll interval", pollInterval, Limits.pollInterval, seconds)
        try check("shutdown grace period", shutdownGracePeriod, Limits.shutdownGracePeriod, seconds)
        try check("retry base", retryPolicy.base, Limits.retryBase, seconds)
        try check("completed retention", completedRetention, Limits.retention, seconds)
        try check("discarded retention", discardedRetention, Limits.retention, seconds)
    }

    static func secondsText(_ duration: Duration) -> String {
        let value = duration.inSeconds
        return value == value.rounded() ? "\(Int64(value)) s" : String(format: "%.3g s", value)
    }
}
