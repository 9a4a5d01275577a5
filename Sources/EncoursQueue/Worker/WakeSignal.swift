import Synchronization

/// A one-waiter wake-up: `signal()` wakes the waiter, or is remembered until the next `wait`.
///
/// Several signals before a wait collapse into one, which is what a fetch loop wants.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Bool, Never>?
    }
    private let state = Mutex(State())

    init() {}

    /// Wakes the waiter, or the next one.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume(returning: true)
    }

    /// Waits for a signal; returns true when signalled, false when the task was cancelled first.
    @discardableResult
    func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                enum Now { case signalled, cancelled, wait }
                let now = state.withLock { state -> Now in
                    if state.pending {
                        state.pending = false
                        return .signalled
                    }
                    if Task.isCancelled { return .cancelled }
                    state.waiter = continuation
                    return .wait
                }
                switch now {
                case .signalled: continuation.resume(returning: true)
                case .cancelled: continuation.resume(returning: false)
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: false)
        }
    }

    /// Waits for a signal or until `timeout` passes; returns true when signalled.
    @discardableResult
    func wait(timeout: Duration) async -> Bool {
        if state.withLock({ state in defer { state.pending = false }; return state.pending }) { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            var signalled = await group.next() ?? false
            group.cancelAll()
            // A signal that raced the timeout is not lost: the waiter reports it.
            for await result in group { signalled = signalled || result }
            return signalled
        }
    }
}
