import EncoursLedger
import EncoursLedgerStore
import EncoursQueue
import Foundation
import Logging

/// The `dunning.run` kind: one dunning run of the job's tenant at the payload's `as_of` date.
///
/// Payload: `{"as_of": "YYYY-MM-DD"}` (absent: today in the tenant's time zone when the attempt
/// runs; `encours dunning run` always sets it, so a retry the next day keeps the run's date).
/// The run's reminders, their items, the invoices' new levels, one `reminder.deliver` job per
/// reminder and this job's completion commit in one transaction fenced by the job's lease: a
/// run whose worker dies or loses its lease records nothing, and its retry records everything once.
public struct DunningRunHandler: JobHandler {
    public let kind = "dunning.run"
    public init() {}

    /// The payload of a `dunning.run` job for `asOf`.
    public static func payload(asOf: CalendarDate?) -> String {
        asOf.map { "{\"as_of\": \"\($0.isoString)\"}" } ?? "{}"
    }

    /// The unique key of a tenant's run at `asOf`: a second request while one is queued is skipped.
    public static func uniqueKey(asOf: CalendarDate) -> String {
        "dunning.run:\(asOf.isoString)"
    }

    /// The job of a tenant's run at `asOf`, as the CLI and the schedules enqueue it.
    public static func job(tenantID: Int64, asOf: CalendarDate) -> NewJob {
        NewJob(tenantID: tenantID, kind: "dunning.run", payload: payload(asOf: asOf), priority: 2, uniqueKey: uniqueKey(asOf: asOf))
    }

    public func handle(_ context: JobContext) async throws {
        let payload = try JobPayload(stored: context.job.payload)
        var requested: CalendarDate?
        if let text = try payload.string("as_of") {
            do { requested = try CalendarDate(parsing: text) } catch {
                throw HandlerError(.invalidPayload, "job \(context.job.id): as_of \"\(text.prefix(40))\" is not a date (YYYY-MM-DD)")
            }
        }
        let asOf = requested
        let started = ContinuousClock.now
        let outcome = try await context.transaction { transaction in
            let outcome = try DunningRun.perform(asOf: asOf, dryRun: false, jobID: transaction.job.id, on: transaction.connection)
            // Delivery jobs of batches of reminders, written once with the reminders (no unique key needed).
            let deliveries = ReminderDeliveryHandler.jobs(reminders: outcome.recorded, tenantID: transaction.job.tenantID)
            let enqueueStarted = ContinuousClock.now
            _ = try transaction.bulkEnqueue(deliveries)
            transaction.completeJob()
            let phases = outcome.phases.map { "\($0.name)=\(milliseconds($0.duration))ms" }
                + ["deliveries=\(milliseconds(ContinuousClock.now - enqueueStarted))ms"]
            return (outcome.asOf, outcome.runID, outcome.reminderCount, outcome.invoicesMoved, phases.joined(separator: " "))
        }
        context.logger.info(
            "dunning run recorded",
            metadata: [
                "dunning.as_of": "\(outcome.0.isoString)", "dunning.run_id": "\(outcome.1.map(String.init) ?? "none")",
                "dunning.reminders": "\(outcome.2)", "dunning.invoices_moved": "\(outcome.3)",
                "duration_ms": "\(milliseconds(ContinuousClock.now - started))", "dunning.phases": "\(outcome.4)",
            ])
    }
}

/// A duration in whole milliseconds, for log metadata.
func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
}

/// A run's phases for its log line: `select=12ms plan=3ms ...`.
func phaseSummary(_ phases: [(name: String, duration: Duration)]) -> String {
    phases.map { "\($0.name)=\(milliseconds($0.duration))ms" }.joined(separator: " ")
}
