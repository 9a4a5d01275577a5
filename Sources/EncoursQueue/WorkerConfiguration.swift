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
    /// Backoff between failed attempts.
    public var retryPolicy: RetryPolicy
    /// How long running jobs may take to finish after SIGTERM before being released (default 30 s).
    public var shutdownGracePeriod: Duration
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
        promotionInterval: Duration = .seconds(1),
        completedRetention: Duration = .seconds(24 * 3600),
        discardedRetention: Duration = .seconds(7 * 24 * 3600),
        pruneInterval: Duration = .seconds(5),
        handlerConnections: Int? = nil,
        durableClaims: Bool = false,
        claimConnections: Int? = nil
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
        self.promotionInterval = promotionInterval
        self.completedRetention = completedRetention
        self.discardedRetention = discardedRetention
        self.pruneInterval = pruneInterval
        self.handlerConnections = max(1, handlerConnections ?? concurrency)
        self.durableClaims = durableClaims
        self.claimConnections = max(1, claimConnections ?? Self.defaultClaimConnections(concurrency: concurrency, batchSize: batchSize))
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
}
