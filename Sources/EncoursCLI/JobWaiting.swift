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
                let line = ProgressLine("waiting for job \(id)")
                do {
                    let job = try await Self.poll(id, on: session) { line.update(state: $0.state.rawValue) }
                    line.finish()
                    await session.close()
                    return job
                } catch {
                    line.finish()
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

    static func poll(_ id: Int64, on session: PostgresSession, seen: (Job) -> Void = { _ in }) async throws -> Job {
        var delay = Duration.milliseconds(50)
        while true {
            let job = try await session.withConnection { connection -> Job in
                guard let job = try JobQueue.job(id: id, on: connection) else {
                    throw AdminError(.notFound, "job \(id) is gone (pruned?)")
                }
                return job
            }
            if job.state.isFinal { return job }
            seen(job)
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(500))
        }
    }
}

/// What `--wait --json` prints: how the job ended, its date, what it recorded, its last error.
struct WaitOutcome: Encodable {
    var job: Job
    /// The dates of the work, under their names (`as_of`; `at` and `on_date`).
    var dates: [(key: String, value: String?)]
    /// The id of what the job recorded, under its name (`run_id`, `recalc_id`); nil when nothing.
    var recorded: (key: String, id: Int64?)
    /// The counts of what it recorded, under their names.
    var counts: [(key: String, value: Int)]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Every field, nulls included, so scripts find each key.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(job.id, forKey: Key("job_id"))
        try container.encode(job.state.rawValue, forKey: Key("state"))
        for (key, value) in dates { try container.encode(value, forKey: Key(key)) }
        try container.encode(recorded.id, forKey: Key(recorded.key))
        for (key, value) in counts { try container.encode(value, forKey: Key(key)) }
        try container.encode(job.errors.last?.error, forKey: Key("error"))
    }
}
