import EncoursLedger
import EncoursQueue

/// The job kinds Encours knows, and the handlers this build runs for them.
///
/// Enqueueing a kind that is not listed is refused. A kind listed without a handler here
/// (its issue has not landed yet) is accepted and waits, `available`, for a worker that runs it.
public enum JobCatalog {
    /// Every kind of job, in the order the README lists them.
    public static let kinds: [String] = ["dunning.run", "reminder.deliver", "risk.recalc", "disputes.escalate", "noop"]

    /// The handlers this build of the worker runs; `delivery` configures `reminder.deliver`.
    ///
    /// Throws when the delivery configuration is unusable (a malformed `ENCOURS_SMTP_URL`).
    public static func handlers(delivery: DeliveryConfiguration = DeliveryConfiguration()) throws -> [any JobHandler] {
        [
            NoopHandler(), DunningRunHandler(), RiskRecalcHandler(), DisputesEscalateHandler(),
            try ReminderDeliveryHandler(configuration: delivery),
        ]
    }

    /// What a payload field holds, as its kind's handler reads it.
    enum FieldType: Sendable {
        /// A calendar date, `YYYY-MM-DD`.
        case date
        /// An instant, as `disputes escalate --at` takes it.
        case instant
        case wholeNumber, wholeNumbers, text, texts
    }

    /// The fields each kind's payload may have (every one optional unless its handler says otherwise).
    static let payloadFields: [String: [(name: String, type: FieldType)]] = [
        "dunning.run": [("as_of", .date)],
        "reminder.deliver": [("reminder_ids", .wholeNumbers), ("reminder_id", .wholeNumber), ("notification_id", .wholeNumber)],
        "risk.recalc": [("as_of", .date), ("customer_id", .text), ("customer_ids", .texts)],
        "disputes.escalate": [("at", .instant)],
        "noop": [("sleep_ms", .wholeNumber), ("fail", .text)],
    ]

    /// Checks a payload the way `kind`'s handler will read it, for `encours enqueue`: a field the
    /// kind does not have (a misspelt `as_of` would silently run for today), a value of the wrong
    /// type or an unparsable date gets a one-line error naming the field.
    ///
    /// Workers stay lenient (they ignore fields they do not know), so jobs written by other
    /// producers or a newer release still run.
    public static func validate(kind: String, payload text: String) throws(HandlerError) {
        try validate(kind: kind)
        let payload: JobPayload
        do { payload = try JobPayload(text) } catch { throw HandlerError(.invalidPayload, error.message) }
        let fields = payloadFields[kind] ?? []
        let known = fields.map(\.name)
        for name in payload.fieldNames where !known.contains(name) {
            throw HandlerError(
                .invalidPayload,
                "unknown field \"\(DisplayText.escaped(name, limit: 60))\" in a \(kind) payload; its fields are \(known.joined(separator: ", "))")
        }
        do {
            for (name, type) in fields {
                switch type {
                case .date:
                    if let value = try payload.string(name), (try? CalendarDate(parsing: value)) == nil {
                        throw HandlerError(.invalidPayload, "\(name) \"\(value.prefix(40))\" is not a date (YYYY-MM-DD)")
                    }
                case .instant:
                    if let value = try payload.string(name) {
                        do { _ = try EscalationInstant(parsing: value) } catch {
                            throw HandlerError(.invalidPayload, "\(name): \(error.message)")
                        }
                    }
                case .wholeNumber: _ = try payload.integer(name)
                case .wholeNumbers: _ = try payload.integers(name)
                case .text: _ = try payload.string(name)
                case .texts: _ = try payload.strings(name)
                }
            }
        } catch let error as QueueError {
            throw HandlerError(.invalidPayload, error.message)
        } catch let error as HandlerError {
            throw error
        } catch {
            throw HandlerError(.invalidPayload, "\(error)")
        }
        if kind == "reminder.deliver", ["reminder_ids", "reminder_id", "notification_id"].allSatisfy({ !payload.fieldNames.contains($0) }) {
            throw HandlerError(.invalidPayload, "a reminder.deliver payload names reminder_ids, reminder_id or notification_id")
        }
    }

    /// Throws a one-line error for an unknown kind.
    public static func validate(kind: String) throws(HandlerError) {
        guard kinds.contains(kind) else {
            throw HandlerError(
                .unknownKind, "unknown job kind \"\(DisplayText.escaped(kind, limit: 60))\": expected one of \(kinds.joined(separator: ", "))")
        }
    }
}

/// An error of the job handlers: a code and one line naming the job, field or value.
public struct HandlerError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A job kind that Encours does not know.
        case unknownKind = "unknown_kind"
        /// A payload field is missing or has the wrong type or value.
        case invalidPayload = "invalid_payload"
        /// A handler asked to fail (the `noop` kind's `fail` field, for tests and drills).
        case requestedFailure = "requested_failure"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
