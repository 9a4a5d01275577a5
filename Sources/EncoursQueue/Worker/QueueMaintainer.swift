import EncoursPostgres
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The queue's upkeep, done by one elected worker at a time: promoting scheduled and retryable
/// jobs whose time has come, rescuing jobs whose lease lapsed (with backoff), pruning finished
/// jobs past retention, forgetting dead workers, and vacuuming the jobs table when it churned.
///
/// Every worker runs one; each tick it takes or keeps the `maintenance` leadership (a row in
/// `encours.leaders` with a short expiry), and only the leader works. A leader that dies is
/// replaced within ``LeaseTimings/leaderTTL``.
final class QueueMaintainer: Service, Sendable {
    private let fast: PostgresSession
    private let slow: PostgresSession
    private let configuration: WorkerConfiguration
    private let timings: LeaseTimings
    private let health: DatabaseHealth
    private let logger: Logger
    private let onPromoted: @Sendable () -> Void
    private let leading = Atomic<Bool>(false)

    static let role = "maintenance"

    init(
        fast: PostgresSession, slow: PostgresSession, configuration: WorkerConfiguration, health: DatabaseHealth,
        logger: Logger, onPromoted: @escaping @Sendable () -> Void
    ) {
        self.fast = fast
        self.slow = slow
        self.configuration = configuration
        self.timings = LeaseTimings(lease: configuration.lease)
        self.health = health
        self.logger = logger
        self.onPromoted = onPromoted
    }

    /// True while this worker holds the leadership.
    var isLeader: Bool { leading.load(ordering: .relaxed) }

    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.electAndKeepLoop() }
            group.addTask { await self.retentionLoop() }
            group.addTask { await self.gaugesLoop() }
        }
    }

    /// Each tick: keep (or take) the leadership; as leader, promote due jobs and rescue lapsed leases.
    private func electAndKeepLoop() async {
        let tick = min(configuration.promotionInterval, timings.rescueInterval, timings.leaderTTL / 3)
        let (workerID, ttl, policy) = (configuration.workerID, timings.leaderTTL, configuration.retryPolicy)
        var failing = false
        while !Task.isCancelled {
            do {
                let (leader, promoted, rescue) = try await fast.withConnection { connection in
                    guard try QueueStatements.elect(role: Self.role, workerID: workerID, ttl: ttl, on: connection) else {
                        return (false, 0, QueueStatements.RescueOutcome())
                    }
                    let promoted = try QueueStatements.promoteDue(limit: 10_000, on: connection)
                    let rescue = try QueueStatements.rescueExpired(limit: 10_000, policy: policy, on: connection)
                    if promoted + rescue.total > 0 { try connection.query("SELECT pg_notify('encours_jobs', '')") }
                    return (true, promoted, rescue)
                }
                health.touch()
                if leading.exchange(leader, ordering: .relaxed) != leader {
                    logger.info(leader ? "elected queue maintainer" : "no longer the queue maintainer")
                }
                if promoted > 0 { onPromoted() }
                if rescue.total > 0 {
                    logger.warning("rescued jobs whose worker was lost", metadata: [
                        "retried": "\(rescue.retried)", "discarded": "\(rescue.discarded)", "cancelled": "\(rescue.cancelled)",
                    ])
                }
                if failing { logger.notice("maintenance works again") }
                failing = false
            } catch is CancellationError {
                return
            } catch {
                leading.store(false, ordering: .relaxed)
                if !failing { logger.error("maintenance failed", metadata: ["error": "\(error)"]) }
                failing = true
            }
            try? await Task.sleep(for: tick)
        }
    }

    /// As leader, every ``gaugeInterval``: read the queue once for the whole fleet and export it;
    /// a worker that is not the leader exports none of these, so no stale reading survives a change
    /// of leader. `encours_queue_jobs{state,kind,tenant}`, `encours_queue_oldest_age_seconds{state,kind,tenant}`,
    /// `encours_queue_lapsed_leases`, `encours_workers_alive`.
    private func gaugesLoop() async {
        let labels = ["state", "kind", "tenant"]
        let families = (
            jobs: GaugeFamily("encours_queue_jobs", labels: labels), age: GaugeFamily("encours_queue_oldest_age_seconds", labels: labels),
            lapsed: GaugeFamily("encours_queue_lapsed_leases"), workers: GaugeFamily("encours_workers_alive"))
        func withdraw() {
            for family in [families.jobs, families.age, families.lapsed, families.workers] { family.withdraw() }
        }
        let alive = max(configuration.lease, .seconds(10))
        var exporting = false
        while !Task.isCancelled {
            if isLeader {
                do {
                    let readings = try await slow.withConnection { try QueueStatements.gaugeReadings(alive: alive, on: $0) }
                    families.jobs.set(readings.groups.map { ([$0.state, $0.kind, $0.tenant], Double($0.jobs)) })
                    families.age.set(readings.groups.map { ([$0.state, $0.kind, $0.tenant], $0.oldestSeconds) })
                    families.lapsed.set([([], Double(readings.lapsed))])
                    families.workers.set([([], Double(readings.workers))])
                    exporting = true
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("queue gauges not read", metadata: ["error": "\(error)"])
                }
            } else if exporting {
                withdraw()
                exporting = false
            }
            try? await Task.sleep(for: Self.gaugeInterval)
        }
        withdraw()
    }

    /// How often the leader reads the queue for its gauges.
    static let gaugeInterval: Duration = .seconds(10)

    /// As leader, every prune interval: delete finished jobs past retention, forget dead workers, vacuum.
    private func retentionLoop() async {
        let configuration = self.configuration
        let staleWorkerAge = max(configuration.lease * 4, .seconds(120))
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.pruneInterval)
            guard isLeader, !Task.isCancelled else { continue }
            do {
                let pruned = try await slow.withConnection { connection -> Int in
                    // Short statements until the backlog of finished jobs is gone.
                    let batchSize = 5_000
                    var pruned = 0
                    var batch = 0
                    repeat {
                        batch = try QueueStatements.prune(
                            completed: configuration.completedRetention, discarded: configuration.discardedRetention,
                            limit: batchSize, on: connection)
                        pruned += batch
                    } while batch >= batchSize
                    try QueueStatements.removeStaleWorkers(olderThan: staleWorkerAge, on: connection)
                    // Claims and completions leave dead row versions and index entries behind at
                    // the rate jobs flow; autovacuum looks at a database once a minute at best,
                    // so the leader vacuums the queue table itself (it only visits changed pages).
                    try QueueStatements.vacuumIfChurned(on: connection)
                    return pruned
                }
                if pruned > 0 { logger.info("pruned finished jobs", metadata: ["count": "\(pruned)"]) }
            } catch is CancellationError {
                return
            } catch {
                logger.error("pruning failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
