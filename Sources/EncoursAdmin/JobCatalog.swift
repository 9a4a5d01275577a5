import EncoursQueue

/// The job kinds Encours knows; enqueueing any other kind is refused.
public enum JobCatalog {
    public static let kinds: [String] = ["dunning.run", "reminder.deliver", "risk.recalc", "disputes.escalate", "noop"]

    /// The handlers this build of the worker runs.
    public static func handlers() -> [any JobHandler] {
        [NoopHandler()]
    }

    /// Throws a one-line error for an unknown kind.
    public static func validate(kind: String) throws {
        guard kinds.contains(kind) else {
            throw AdminError(.invalidInput, "unknown job kind \"\(kind)\": expected one of \(kinds.joined(separator: ", "))")
        }
    }
}
