/// One transfer at a time on a transport's kept libcurl handle.
///
/// A transport actor is re-entered while one of its transfers awaits (its cancellation handler
/// is an `await`), so a second call could start on the same handle; libcurl then fails it, or
/// worse, mixes the two. Each call takes a turn first and gives it back when done. Used only from
/// its actor's executor.
final class TransferTurns {
    private var transferring = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Waits until no other call is transferring, then holds the handle.
    nonisolated(nonsending) func take() async {
        guard transferring else {
            transferring = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the handle to the next waiting call, or frees it.
    func give() {
        if waiting.isEmpty {
            transferring = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
