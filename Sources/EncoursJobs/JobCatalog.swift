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

    /// Throws a one-line error for an unknown kind.
    public static func validate(kind: String) throws(HandlerError) {
        guard kinds.contains(kind) else {
            throw HandlerError(.unknownKind, "unknown job kind \"\(kind)\": expected one of \(kinds.joined(separator: ", "))")
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
