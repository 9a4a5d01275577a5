/// What a recalculation changes for one customer beyond its score: alerts and the risk-driven policy.
///
/// A pure state machine: the customer's state after its previous recalculation goes in with the
/// new grade; alerts, a policy switch and the next state come out.
public enum RiskTransition {
    /// The customer's risk state kept between recalculations.
    public struct State: Sendable, Hashable {
        public var grade: RiskGrade
        public var overCreditLimit: Bool
        /// True while the customer is dunned under the tenant's `strict` policy because of its grade.
        public var strictPolicy: Bool

        public init(grade: RiskGrade, overCreditLimit: Bool, strictPolicy: Bool) {
            self.grade = grade
            self.overCreditLimit = overCreditLimit
            self.strictPolicy = strictPolicy
        }
    }

    /// An alert raised for the tenant.
    public enum Alert: Sendable, Hashable {
        /// The grade is worse than at the previous recalculation.
        case gradeWorsened(from: RiskGrade, to: RiskGrade)
        /// The exposure went above the credit limit (it was not above it at the previous recalculation).
        case creditLimitExceeded

        /// Stable name: `grade_worsened` or `credit_limit_exceeded`.
        public var kind: String {
            switch self {
            case .gradeWorsened: "grade_worsened"
            case .creditLimitExceeded: "credit_limit_exceeded"
            }
        }
    }

    /// A change of the policy that duns the customer.
    public enum PolicySwitch: String, Sendable, Hashable {
        /// Graded D or E: dunned under the tenant's `strict` policy from now on.
        case toStrict = "to_strict"
        /// Back to B or better: dunned under its own policy again.
        case fromStrict = "from_strict"
    }

    /// The outcome for one customer.
    public struct Outcome: Sendable, Hashable {
        public var alerts: [Alert]
        public var policySwitch: PolicySwitch?
        public var state: State
    }

    /// The grades that move a customer to `strict` (D, E) and the best grade that is not enough to
    /// bring it back (C): it returns at B or better, so a customer hovering between C and D does
    /// not switch at every recalculation.
    public static let strictGrades: Set<RiskGrade> = [.d, .e]

    /// Applies one recalculation's grade to the previous state.
    ///
    /// - A first recalculation (no previous state) raises no grade alert: it sets the baseline. An
    ///   exposure over the limit is news even then.
    /// - An alert is raised once per change: a grade that stays D raises nothing; C → D raises,
    ///   D → C nothing, C → D again raises again.
    /// - The switch to `strict` happens only when the tenant has that policy and the customer is
    ///   not already dunned by it (its own policy named `strict`).
    /// - A recalculation dated before the customer's latest (`backdated`) is history only: no
    ///   alert, no switch, and the state stays the latest one.
    public static func apply(
        previous: State?, grade: RiskGrade, overCreditLimit: Bool, strictPolicyExists: Bool, ownPolicyIsStrict: Bool,
        backdated: Bool = false
    ) -> Outcome {
        if backdated, let previous { return Outcome(alerts: [], policySwitch: nil, state: previous) }
        var alerts: [Alert] = []
        if let previous, grade > previous.grade { alerts.append(.gradeWorsened(from: previous.grade, to: grade)) }
        if overCreditLimit && !(previous?.overCreditLimit ?? false) { alerts.append(.creditLimitExceeded) }
        var strict = previous?.strictPolicy ?? false
        var policySwitch: PolicySwitch?
        if !strict, strictGrades.contains(grade), strictPolicyExists, !ownPolicyIsStrict {
            strict = true
            policySwitch = .toStrict
        } else if strict, grade <= .b {
            strict = false
            policySwitch = .fromStrict
        }
        return Outcome(
            alerts: alerts, policySwitch: policySwitch,
            state: State(grade: grade, overCreditLimit: overCreditLimit, strictPolicy: strict))
    }
}
