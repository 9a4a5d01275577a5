import EncoursLedger
import EncoursLedgerStore
import EncoursQueue
import EncoursReminders
import Foundation
import Logging

/// The `disputes.escalate` kind: escalates the job's tenant's overdue disputes at an instant T.
///
/// Payload: `{"at": "2026-12-03T09:00:00Z"}` (ISO 8601; without an offset, in the tenant's time
/// zone). Without `at`, T is the job's scheduled time, so every attempt of the job escalates at
/// the same T. The disputes' new tiers, deadlines and breaches, their events, the notifications
/// to the tiers, one `reminder.deliver` job per notification and this job's completion commit in
/// one transaction fenced by the job's lease; a second run at the same T changes nothing.
public struct DisputesEscalateHandler: JobHandler {
    public static let kindName = "disputes.escalate"
    public let kind = kindName
    public init() {}

    /// The payload of an escalation at `at` (normalized: UTC with `Z`).
    public static func payload(at: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(["at": at])) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The unique key of an escalation at `at`: the same instant is never escalated by two jobs at once.
    public static func uniqueKey(at: String) -> String { "disputes.escalate:\(at)" }

    /// The job of a tenant's escalation at `at` (UTC, `Z`), as the CLI and the schedules enqueue it.
    public static func job(tenantID: Int64, at: String) -> NewJob {
        NewJob(tenantID: tenantID, kind: kindName, payload: payload(at: at), priority: 2, uniqueKey: uniqueKey(at: at))
    }

    public func handle(_ context: JobContext) async throws {
        let at = try Self.instant(context.job)
        let started = ContinuousClock.now
        let outcome = try await context.transaction { transaction in
            let outcome = try DisputeEscalationRun.perform(
                at: at, jobID: transaction.job.id, compose: DisputeEscalationMessage.compose, on: transaction.connection)
            _ = try transaction.bulkEnqueue(ReminderDeliveryHandler.jobs(notificationIDs: outcome.notificationIDs, tenantID: transaction.job.tenantID))
            transaction.completeJob()
            return (
                outcome.at, outcome.onDate, outcome.escalationID, outcome.escalated, outcome.breached, outcome.notificationIDs.count,
                outcome.unaddressed, phaseSummary(outcome.phases))
        }
        let unaddressed = outcome.6
        context.logger.log(
            level: unaddressed > 0 ? .warning : .info,
            unaddressed > 0 ? "dispute escalation recorded; some tiers could not be notified" : "dispute escalation recorded",
            metadata: [
                "disputes.at": "\(outcome.0)", "disputes.on_date": "\(outcome.1.isoString)",
                "disputes.escalation_id": "\(outcome.2.map(String.init) ?? "none")", "disputes.escalated": "\(outcome.3)",
                "disputes.breached": "\(outcome.4)", "disputes.notifications": "\(outcome.5)", "disputes.unaddressed": "\(unaddressed)",
                "duration_ms": "\(milliseconds(ContinuousClock.now - started))", "disputes.phases": "\(outcome.7)",
            ])
    }

    /// T: the payload's `at`, or the job's scheduled time.
    static func instant(_ job: Job) throws -> EscalationInstant {
        let payload = try JobPayload(stored: job.payload)
        guard let text = try payload.string("at") else {
            return try EscalationInstant(parsing: ISO8601DateFormatter().string(from: job.runAt))
        }
        do { return try EscalationInstant(parsing: text) } catch {
            throw HandlerError(.invalidPayload, "job \(job.id): at: \(error.message)")
        }
    }
}
