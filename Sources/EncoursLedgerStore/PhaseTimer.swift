/// How long each phase of a long statement sequence took, for logs and benchmarks.
struct PhaseTimer {
    private var mark = ContinuousClock.now
    private(set) var phases: [(name: String, duration: Duration)] = []

    /// Ends the phase running since the previous call (or since the timer was made).
    mutating func end(_ name: String) {
        let now = ContinuousClock.now
        phases.append((name, now - mark))
        mark = now
    }
}
