import EncoursPostgres
import Logging
import ServiceLifecycle

/// Listens for `NOTIFY encours_jobs` (new work: wakes the producer) and `encours_control`
/// (`cancel:ID`: stops that job if it runs here). Polling covers the time it is not listening.
final class JobNotifier: Service, Sendable {
    private let session: PostgresSession
    private let held: HeldJobs
    private let onJobs: @Sendable () -> Void
    private let logger: Logger

    init(session: PostgresSession, held: HeldJobs, logger: Logger, onJobs: @escaping @Sendable () -> Void) {
        self.session = session
        self.held = held
        self.logger = logger
        self.onJobs = onJobs
    }

    func run() async {
        // Cancellation (the worker stopping) interrupts the blocking wait on the session's thread.
        let interrupt: PostgresWaitInterrupt
        do {
            interrupt = try PostgresWaitInterrupt()
        } catch {
            logger.error("cannot listen; polling instead", metadata: ["error": "\(error)"])
            return
        }
        await withTaskCancellationHandler {
            await listen(interrupt: interrupt)
        } onCancel: {
            interrupt.interrupt()
        }
    }

    private func listen(interrupt: PostgresWaitInterrupt) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await session.withConnection { connection in
                    try connection.listen("encours_jobs")
                    try connection.listen("encours_control")
                }
                if failures > 0 { logger.notice("listening again") }
                failures = 0
                onJobs()  // anything enqueued while we were not listening
                while !Task.isCancelled {
                    let notes = try await session.withConnection {
                        try $0.waitForNotifications(timeout: .milliseconds(250), interrupt: interrupt)
                    }
                    for note in notes { handle(note) }
                }
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                if failures == 1 {
                    logger.warning("listen connection failed; polling until it is back", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(min(5000, 250 << min(failures, 5))))
            }
        }
    }

    private func handle(_ note: PostgresNotification) {
        switch note.channel {
        case "encours_jobs":
            onJobs()
        case "encours_control":
            if note.payload.hasPrefix("cancel:"), let id = Int64(note.payload.dropFirst("cancel:".count)) {
                held.job(id)?.stop(.cancelRequested)
            }
        default:
            break
        }
    }
}
