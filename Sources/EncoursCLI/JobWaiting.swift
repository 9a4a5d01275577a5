import EncoursAdmin
import EncoursPostgres
import EncoursQueue
import EncoursRuntime
import Foundation

extension DatabaseOptions {
    /// Polls job `id` on one connection until it is completed, discarded or cancelled (a
    /// `retryable` job is still going), for `--wait`. SIGINT stops waiting (the job goes on).
    func waitForJob(_ id: Int64) async throws -> Job {
        let url = try url()
        do {
            return try await Interruption.cancelOnSignal {
                let session = PostgresSession(connectionString: url, name: "encours-wait")
                do {
                    let job = try await Self.poll(id, on: session)
                    await session.close()
                    return job
                } catch {
                    await session.close()
                    throw error
                }
            }
        } catch is CancellationError {
            FileHandle.standardError.write(Data("encours: stopped waiting; job \(id) goes on (see encours jobs show \(id))\n".utf8))
            Foundation.exit(130)
        } catch {
            fail(error)
        }
    }

    static func poll(_ id: Int64, on session: PostgresSession) async throws -> Job {
        var delay = Duration.milliseconds(50)
        while true {
            let job = try await session.withConnection { connection -> Job in
                guard let job = try JobQueue.job(id: id, on: connection) else {
                    throw AdminError(.notFound, "job \(id) is gone (pruned?)")
                }
                return job
            }
            if job.state.isFinal { return job }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(500))
        }
    }
}
