import EncoursPostgres
import Logging
import ServiceLifecycle

/// Renews the leases of every job this worker holds (running, or finished and waiting to be
/// recorded) and its registry heartbeat, and stops a running job before its lease can lapse
/// when it could not be renewed, so no job runs here after another worker may have taken it.
final class LeaseKeeper: Service, Sendable {
    private let session: PostgresSession
    private let held: HeldJobs
    private let workerID: String
    private let timings: LeaseTimings
    private let health: DatabaseHealth
    private let logger: Logger

    init(session: PostgresSession, held: HeldJobs, workerID: String, timings: LeaseTimings, health: DatabaseHealth, logger: Logger) {
        self.session = session
        self.held = held
        self.workerID = workerID
        self.timings = timings
        self.health = health
        self.logger = logger
    }

    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.renewLoop() }
            group.addTask { await self.deadlineLoop() }
        }
    }

    /// Heartbeats every third of the lease; sooner again after a failure.
    private func renewLoop() async {
        var failing = false
        while !Task.isCancelled {
            try? await Task.sleep(for: failing ? timings.heartbeatRetryInterval : timings.heartbeatInterval)
            if Task.isCancelled { return }
            do {
                try await renew()
                if failing { logger.notice("heartbeats succeed again") }
                failing = false
            } catch is CancellationError {
                return
            } catch {
                if !failing { logger.error("heartbeat failed", metadata: ["error": "\(error)"]) }
                failing = true
            }
        }
    }

    /// One heartbeat: extends what is still ours, stops what was taken away.
    func renew() async throws {
        let jobs = held.snapshot()
        let leases = jobs.map { QueueStatements.Lease(jobID: $0.id, attempt: $0.attempt) }
        let (workerID, lease) = (self.workerID, timings.lease)
        let sent = ContinuousClock.now
        let outcome = try await session.withConnection {
            try QueueStatements.heartbeat(workerID: workerID, leases: leases, lease: lease, on: $0)
        }
        health.touch()
        for job in jobs {
            if let cancelRequested = outcome.renewed[job.id] {
                job.renewed(at: sent)
                if cancelRequested { job.stop(.cancelRequested) }
            } else if let cancelRequested = outcome.busy[job.id] {
                // Locked for a moment by its completion being written (in its own transaction or by
                // the completer): renewed at the next heartbeat if it is still running then.
                if cancelRequested { job.stop(.cancelRequested) }
            } else if held.job(job.id) === job, job.stop(.leaseLost) {
                logger.warning("lost the lease of a running job; stopping it without recording its result", metadata: [
                    "job.id": "\(job.id)", "job.kind": "\(job.kind)", "tenant.id": "\(job.tenantID)", "attempt": "\(job.attempt)",
                ])
            }
        }
    }

    /// Stops running jobs whose lease, as last renewed, is about to lapse.
    private func deadlineLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: timings.deadlineCheckInterval)
            let cutoff = ContinuousClock.now + timings.localDeadlineMargin
            for job in held.snapshot() where job.phase == .running && job.deadline <= cutoff {
                if job.stop(.leaseLost) {
                    logger.warning("could not renew a job's lease; stopping it before the lease lapses", metadata: [
                        "job.id": "\(job.id)", "job.kind": "\(job.kind)", "tenant.id": "\(job.tenantID)", "attempt": "\(job.attempt)",
                    ])
                }
            }
        }
    }
}
