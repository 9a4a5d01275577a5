import EncoursLedger
import EncoursLedgerStore
import EncoursQueue
import EncoursReminders
import Foundation
import Logging

/// The `risk.recalc` kind: scores the job's tenant's customers at the payload's `as_of` date.
///
/// Payload: `{"as_of": "YYYY-MM-DD", "customer_ids": ["C1", ...]}`, both optional (no `as_of`:
/// today in the tenant's time zone when the attempt runs; no `customer_ids`: every customer;
/// `customer_id` names one). The scores, the changed risk states and policy switches, the alerts,
/// their notifications, one `reminder.deliver` job per notification and this job's completion
/// commit in one transaction fenced by the job's lease: a recalculation recorded twice is impossible.
public struct RiskRecalcHandler: JobHandler {
    public static let kindName = "risk.recalc"
    public let kind = kindName
    public init() {}

    /// The payload of a recalculation at `asOf` (nil: the day it runs) of `customerIDs` (nil: all).
    public static func payload(asOf: CalendarDate?, customerIDs: [String]?) throws -> String {
        var object: [String: JSONValue] = [:]
        if let asOf { object["as_of"] = .string(asOf.isoString) }
        if let customerIDs { object["customer_ids"] = .array(customerIDs.map(JSONValue.string)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(object), as: UTF8.self)
    }

    /// The unique key of a recalculation at `asOf` (of one customer, or of the whole tenant).
    public static func uniqueKey(asOf: CalendarDate, customerID: String?) -> String {
        "risk.recalc:\(asOf.isoString)" + (customerID.map { ":\($0)" } ?? "")
    }

    /// The job of a recalculation at `asOf` of one customer (nil: the whole tenant), as the CLI and the schedules enqueue it.
    public static func job(tenantID: Int64, asOf: CalendarDate, customerID: String?) throws -> NewJob {
        NewJob(
            tenantID: tenantID, kind: kindName, payload: try payload(asOf: asOf, customerIDs: customerID.map { [$0] }), priority: 2,
            uniqueKey: uniqueKey(asOf: asOf, customerID: customerID))
    }

    public func handle(_ context: JobContext) async throws {
        let (asOf, customerIDs) = try Self.parse(context.job)
        let started = ContinuousClock.now
        let outcome = try await context.transaction { transaction in
            let outcome = try RiskRecalc.perform(
                asOf: asOf, customerIDs: customerIDs, jobID: transaction.job.id, compose: RiskAlertMessage.compose,
                on: transaction.connection)
            _ = try transaction.bulkEnqueue(ReminderDeliveryHandler.jobs(notificationIDs: outcome.notificationIDs, tenantID: transaction.job.tenantID))
            transaction.completeJob()
            return (
                outcome.asOf, outcome.recalcID, outcome.customers, outcome.alerts, outcome.policySwitches,
                phaseSummary(outcome.phases))
        }
        context.logger.info(
            "risk recalculation recorded",
            metadata: [
                "risk.as_of": "\(outcome.0.isoString)", "risk.recalc_id": "\(outcome.1.map(String.init) ?? "none")",
                "risk.customers": "\(outcome.2)", "risk.alerts": "\(outcome.3)", "risk.policy_switches": "\(outcome.4)",
                "duration_ms": "\(milliseconds(ContinuousClock.now - started))", "risk.phases": "\(outcome.5)",
            ])
    }

    /// Reads the payload: the date and the customers, with one-line errors naming the field.
    static func parse(_ job: Job) throws -> (CalendarDate?, [String]?) {
        let payload = try JobPayload(stored: job.payload)
        var asOf: CalendarDate?
        if let text = try payload.string("as_of") {
            do { asOf = try CalendarDate(parsing: text) } catch {
                throw HandlerError(.invalidPayload, "job \(job.id): as_of \"\(text.prefix(40))\" is not a date (YYYY-MM-DD)")
            }
        }
        var customers: [String]?
        if let one = try payload.string("customer_id") { customers = [one] }
        struct Named: Decodable {
            var customer_ids: [String]?
        }
        let named: Named
        do { named = try payload.decode(Named.self) } catch {
            throw HandlerError(.invalidPayload, "job \(job.id): customer_ids must be an array of customer ids")
        }
        if let many = named.customer_ids {
            guard many.count <= RiskRecalc.maximumNamedCustomers else {
                throw HandlerError(
                    .invalidPayload, "job \(job.id): customer_ids names \(many.count) customers (at most \(RiskRecalc.maximumNamedCustomers))")
            }
            customers = (customers ?? []) + many
        }
        return (asOf, customers)
    }
}

/// A JSON value for building payloads.
enum JSONValue: Encodable {
    case string(String)
    case array([JSONValue])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .array(let values): try container.encode(values)
        }
    }
}
