/// The escalation rule of SPEC §7 for one unresolved dispute at an escalation's date: pure, no I/O.
///
/// A dispute whose deadline is before the date moves one tier up, with a new deadline of the date
/// plus the new tier's SLA in business days; at the last tier it is marked breached, once. A
/// dispute due on the date itself, or later, is left alone: running the escalation again at the
/// same date finds nothing to do, because every deadline it set is after that date.
public struct DisputeEscalation: Sendable {
    /// What the escalation does to one dispute.
    public enum Step: Sendable, Hashable {
        /// Not due yet (or already breached at the last tier).
        case none
        /// Moves to `tier` (1-based), due on `deadline`.
        case escalate(tier: Int, deadline: CalendarDate)
        /// At the last tier and past its deadline: marked breached.
        case breach
    }

    /// A dispute as the escalation sees it.
    public struct State: Sendable, Hashable {
        public var tier: Int
        /// Nil for a dispute recorded without one: its deadline is then counted from `openedOn`.
        public var deadline: CalendarDate?
        public var openedOn: CalendarDate
        public var breached: Bool

        public init(tier: Int, deadline: CalendarDate?, openedOn: CalendarDate, breached: Bool) {
            self.tier = tier
            self.deadline = deadline
            self.openedOn = openedOn
            self.breached = breached
        }
    }

    public let policy: EscalationPolicy
    public let calendar: BusinessCalendar

    public init(policy: EscalationPolicy, calendar: BusinessCalendar) {
        self.policy = policy
        self.calendar = calendar
    }

    /// The deadline of a dispute opened on `openedOn`: that date plus tier 1's SLA.
    public func firstDeadline(openedOn: CalendarDate) throws(LedgerError) -> CalendarDate {
        try calendar.adding(businessDays: policy.tiers[0].slaDays, to: openedOn)
    }

    /// The step for `state` at `date` (the escalation instant's date in the tenant's time zone).
    ///
    /// A dispute above the policy's last tier (the policy lost tiers since) counts as at the last tier.
    public func step(_ state: State, on date: CalendarDate) throws(LedgerError) -> Step {
        try Day(self, date).step(state)
    }

    /// The rule on one date, with each tier's new deadline counted once: for a run over many disputes.
    public struct Day: Sendable {
        public let rule: DisputeEscalation
        public let date: CalendarDate
        /// The deadline a dispute moved to tier `index + 1` gets: `date` plus that tier's SLA.
        let deadlines: [CalendarDate]

        public init(_ rule: DisputeEscalation, _ date: CalendarDate) throws(LedgerError) {
            self.rule = rule
            self.date = date
            var deadlines: [CalendarDate] = []
            for tier in rule.policy.tiers { deadlines.append(try rule.calendar.adding(businessDays: tier.slaDays, to: date)) }
            self.deadlines = deadlines
        }

        /// The step for `state` on this date.
        public func step(_ state: State) throws(LedgerError) -> Step {
            let deadline: CalendarDate
            if let known = state.deadline { deadline = known } else { deadline = try rule.firstDeadline(openedOn: state.openedOn) }
            guard deadline < date else { return .none }
            if state.tier < rule.policy.tiers.count {
                let next = max(state.tier, 0) + 1
                return .escalate(tier: next, deadline: deadlines[next - 1])
            }
            return state.breached ? .none : .breach
        }
    }

    /// The tier `tier` (1-based) of the policy, the last one for a tier above it.
    public func tier(_ tier: Int) -> EscalationPolicy.Tier {
        policy.tiers[min(max(tier, 1), policy.tiers.count) - 1]
    }
}

/// How a dispute ends (SPEC §7): the outcome and, for a credit note, its amount. Pure rules.
public enum DisputeOutcome: String, Sendable, Hashable, CaseIterable, Codable {
    /// A credit note of the given amount reduces the invoice (and closes it when nothing is left).
    case creditNote = "credit_note"
    /// The invoice stands as billed: it goes back into dunning at the level it had.
    case upheld
    /// The customer withdrew the dispute: the invoice goes back into dunning at the level it had.
    case withdrawn

    /// The credit note's amount in cents for this outcome, or nil for an outcome without one.
    ///
    /// `requested` is the `--amount` given; a credit note defaults to the disputed amount, or to
    /// the whole balance when the dispute named none. Throws a one-line message when the amount
    /// is given for an outcome that takes none, or exceeds the invoice's balance.
    public func creditCents(requested: Int64?, disputedCents: Int64?, balanceCents: Int64) throws(LedgerError) -> Int64? {
        switch self {
        case .upheld, .withdrawn:
            if requested != nil {
                throw LedgerError(.invalidValue, "--amount is only for --outcome credit_note (a \(rawValue) dispute credits nothing)")
            }
            return nil
        case .creditNote:
            guard balanceCents > 0 else {
                throw LedgerError(.invalidValue, "the invoice has nothing left to credit (balance 0.00): resolve it as upheld or withdrawn")
            }
            let cents = requested ?? min(disputedCents ?? balanceCents, balanceCents)
            guard cents <= balanceCents else {
                throw LedgerError(
                    .invalidValue,
                    "invalid --amount \(Money.decimalString(cents: cents)): more than the invoice balance \(Money.decimalString(cents: balanceCents))")
            }
            return cents
        }
    }
}
