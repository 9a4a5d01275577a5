import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Testing

@Suite("encours and encours-worker binaries")
struct CLITests {
    @Test("migrate applies once, then is a no-op; tenants are created, set and shown with secrets masked")
    func migrateAndTenants() async throws {
        let admin = try TestDatabase.adminURL()
        let name = "encours_cli_\(UInt32.random(in: 0..<UInt32.max))"
        let session = PostgresSession(connectionString: admin)
        try await session.withConnection { try $0.execute("CREATE DATABASE \(name)") }
        // Before migrating, commands say what to do instead of printing SQLSTATE text.
        let unmigrated = try await Binaries.run("encours", ["queue", "stats"], environment: ["ENCOURS_DATABASE_URL": TestDatabase.url(admin, database: name)])
        #expect(unmigrated.status == 1)
        #expect(unmigrated.stderr.contains("run encours migrate"), "\(unmigrated.stderr)")
        #expect(!unmigrated.stderr.contains("SQLSTATE"), "\(unmigrated.stderr)")
        let unmigratedWorker = try await Binaries.run("encours-worker", ["--drain"], environment: ["ENCOURS_DATABASE_URL": TestDatabase.url(admin, database: name)])
        #expect(unmigratedWorker.status == 1)
        #expect(unmigratedWorker.stderr.contains("run encours migrate"), "\(unmigratedWorker.stderr)")
        let url = TestDatabase.url(admin, database: name)
        let environment = ["ENCOURS_DATABASE_URL": url]
        let first = try await Binaries.run("encours", ["migrate"], environment: environment)
        #expect(first.status == 0)
        #expect(first.stdout.contains("applied 0001_tenants_and_queue.sql"))
        let second = try await Binaries.run("encours", ["migrate"], environment: environment)
        #expect(second.status == 0)
        #expect(second.stdout.contains("up to date"))
        #expect(second.stderr.isEmpty)

        #expect(try await Binaries.run("encours", ["tenant", "create", "acme", "--name", "Acme SAS"], environment: environment).status == 0)
        #expect(try await Binaries.run("encours", ["tenant", "set", "acme", "webhook_secret", "s3cret-s3cret-s3cret"], environment: environment).status == 0)
        #expect(try await Binaries.run("encours", ["tenant", "set", "acme", "max_concurrent_jobs", "4"], environment: environment).status == 0)
        let shown = try await Binaries.run("encours", ["tenant", "show", "acme", "--json"], environment: environment)
        #expect(shown.status == 0)
        #expect(!shown.stdout.contains("s3cret"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        #expect(object["max_concurrent_jobs"] as? Int == 4)
        #expect((object["settings"] as? [String: Any])?["webhook_secret"] as? String == "********")
        #expect((object["settings"] as? [String: Any])?["recovery_indemnity"] as? String == "40.00")
        try await session.withConnection { try $0.execute("DROP DATABASE \(name) WITH (FORCE)") }
        await session.close()
    }

    @Test("bad input gets a one-line error, a non-zero exit, and writes nothing")
    func badInput() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            let cases: [([String], String)] = [
                (["enqueue", "bogus.kind", "--tenant", "acme"], "unknown job kind"),
                (["enqueue", "noop", "--tenant", "acme", "--payload", "[1,2]"], "not a JSON object"),
                (["enqueue", "noop", "--tenant", "acme", "--payload", "{oops"], "is not JSON that Encours reads"),
                (["enqueue", "noop", "--tenant", "nobody"], "unknown tenant"),
                (["enqueue", "noop", "--tenant", "acme", "--run-at", "next tuesday"], "invalid --run-at"),
                (["enqueue", "noop", "--tenant", "acme", "--run-at", "2026-02-30T10:00:00Z"], "invalid --run-at"),
                (["enqueue", "noop", "--tenant", "acme", "--priority", "9"], "priority"),
                (["enqueue", "noop", "--tenant", "acme", "--count", "0"], "--count"),
                (["tenant", "set", "acme", "max_concurrent_jobs", "many"], "max_concurrent_jobs"),
                (["tenant", "create", "Bad Slug!", "--name", "x"], "invalid tenant slug"),
                (["jobs", "show", "999999"], "no job with id 999999"),
                (["tenant", "set", "acme", "max_concurrent_jobs", ""], "max_concurrent_jobs"),
                (["tenant", "set", "acme", "name", "Bad\u{1B}[2Jname"], "control characters"),
                (["tenant", "set", "acme", "webhook_secret", "tiny-secret"], "webhook_secret"),
                (["queue", "check", "--max-oldest-age=-1"], "negative"),
                (["import", "customers", "--tenant", "acme", NSTemporaryDirectory()], "is a directory"),
                (["report", "aging", "--tenant", "acme", "--currency", "xx"], "invalid --currency"),
            ]
            for (arguments, expected) in cases {
                let result = try await Binaries.run("encours", arguments, environment: environment)
                #expect(result.status != 0, "\(arguments) exited 0")
                let lines = result.stderr.split(separator: "\n")
                #expect(lines.count == 1, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
                #expect(!result.stderr.contains("tiny-secret"), "a secret was echoed: \(result.stderr)")
                #expect(!result.stderr.contains("\u{1B}"), "an escape was echoed: \(result.stderr)")
            }
            let unreachable = try await Binaries.run(
                "encours", ["enqueue", "noop", "--tenant", "acme"],
                environment: ["ENCOURS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"])
            #expect(unreachable.status == 1)
            #expect(unreachable.stderr.contains("cannot connect"))
            let malformed = try await Binaries.run("encours", ["queue", "stats", "--database-url", "postgresql://x:@:notaport/db"])
            #expect(malformed.status == 1)
            #expect(malformed.stderr.split(separator: "\n").count == 1)
            let missing = try await Binaries.run("encours", ["queue", "stats"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("ENCOURS_DATABASE_URL"))
            #expect(try await stateCount(database, .available) == 0)
            #expect(try await stateCount(database, .scheduled) == 0)
        }
    }

    @Test("enqueue --count, queue stats --json and queue check's exit codes 0, 1, 2 and 3")
    func statsAndCheck() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            let healthy = try await Binaries.run("encours", ["queue", "check"], environment: environment)
            #expect(healthy.status == 0, "\(healthy.stdout)")
            #expect(healthy.stdout.hasPrefix("ENCOURS QUEUE OK"))

            let enqueued = try await Binaries.run("encours", ["enqueue", "noop", "--tenant", "acme", "--count", "250"], environment: environment)
            #expect(enqueued.status == 0)
            let stats = try await Binaries.run("encours", ["queue", "stats", "--json"], environment: environment)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any])
            #expect((object["jobs"] as? [String: Any])?["available"] as? Int == 250)
            #expect(object["generated_at"] is String)
            #expect(object["oldest_available_seconds"] is NSNumber)
            #expect((object["by_kind"] as? [[String: Any]])?.first?["kind"] as? String == "noop")
            #expect((object["by_tenant"] as? [[String: Any]])?.first?["tenant"] as? String == "acme")
            #expect(object["workers"] is [Any])

            let noWorker = try await Binaries.run("encours", ["queue", "check"], environment: environment)
            #expect(noWorker.status == 2, "\(noWorker.stdout)")
            #expect(noWorker.stdout.contains("no live worker"))

            // A discarded job over a threshold of 0 warns once a worker is alive (its registry row).
            try await database.withConnection { connection in
                try connection.query("INSERT INTO encours.workers (id, host, pid, concurrency) VALUES ('w', 'h', 1, 1)")
                try connection.query(
                    "UPDATE encours.jobs SET state = 'discarded', finalized_at = now() WHERE id = (SELECT min(id) FROM encours.jobs)")
            }
            let warning = try await Binaries.run("encours", ["queue", "check", "--max-discarded", "0.5"], environment: environment)
            #expect(warning.status == 64, "a fractional count is refused by the parser")
            let warn = try await Binaries.run("encours", ["queue", "check", "--max-discarded", "1", "--max-retryable", "5"], environment: environment)
            #expect(warn.status == 0, "\(warn.stdout)")
            try await database.withConnection { connection in
                _ = try connection.query(
                    "UPDATE encours.jobs SET state = 'discarded', finalized_at = now() WHERE id IN (SELECT id FROM encours.jobs WHERE state = 'available' LIMIT 1)")
            }
            let warned = try await Binaries.run("encours", ["queue", "check", "--max-discarded", "1"], environment: environment)
            #expect(warned.status == 1, "\(warned.stdout)")
            #expect(warned.stdout.hasPrefix("ENCOURS QUEUE WARNING"))

            let unknown = try await Binaries.run(
                "encours", ["queue", "check"], environment: ["ENCOURS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"])
            #expect(unknown.status == 3)
            #expect(unknown.stdout.hasPrefix("ENCOURS QUEUE UNKNOWN"))
        }
    }

    @Test("jobs list, show, retry and cancel work on real jobs")
    func jobsCommands() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            let ids = try await enqueue(database, [
                NewJob(tenantID: tenant, kind: "noop"), NewJob(tenantID: tenant, kind: "noop", priority: 1),
            ])
            let cancel = try await Binaries.run("encours", ["jobs", "cancel", String(ids[0])], environment: environment)
            #expect(cancel.status == 0)
            #expect(cancel.stdout.contains("cancelled"))
            let again = try await Binaries.run("encours", ["jobs", "cancel", String(ids[0])], environment: environment)
            #expect(again.status == 1)
            #expect(again.stderr.contains("already cancelled"))
            let listed = try await Binaries.run("encours", ["jobs", "list", "--state", "cancelled", "--json"], environment: environment)
            let jobs = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
            #expect(jobs.map { $0["id"] as? Int } == [Int(ids[0])])
            #expect(jobs.first?["tenant"] as? String == "acme")
            let retried = try await Binaries.run("encours", ["jobs", "retry", String(ids[0])], environment: environment)
            #expect(retried.status == 0)
            #expect(try await fetchJob(database, ids[0]).state == .available)
            let shown = try await Binaries.run("encours", ["jobs", "show", String(ids[1]), "--json"], environment: environment)
            let job = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
            #expect(job["priority"] as? Int == 1)
            #expect(job["state"] as? String == "available")
            let badState = try await Binaries.run("encours", ["jobs", "list", "--state", "sleeping"], environment: environment)
            #expect(badState.status == 1)
        }
    }

    @Test("encours-worker --drain runs everything and exits 0; SIGTERM drains running jobs and exits 0")
    func workerProcess() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            _ = try await database.withConnection { try JobQueue.enqueueCopies(of: NewJob(tenantID: tenant, kind: "noop"), count: 500, on: $0) }
            let drained = try await Binaries.run("encours-worker", ["--drain", "--concurrency", "4", "--log-format", "json"], environment: environment)
            #expect(drained.status == 0, "\(drained.stderr)")
            #expect(try await stateCount(database, .completed) == 500)
            let firstLog = try #require(drained.stderr.split(separator: "\n").first)
            let record = try JSONSerialization.jsonObject(with: Data(firstLog.utf8)) as? [String: Any]
            #expect(record?["msg"] as? String == "worker started")

            // Long enough to be seen running by a slow poll on a loaded machine (it was missed at 700 ms).
            let ids = try await enqueue(database, [NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": 4000}"#)])
            let worker = try Binaries.start("encours-worker", ["--concurrency", "2"], environment: environment)
            try await eventually(database) { try JobQueue.job(id: ids[0], on: $0)?.state == .running }
            worker.signal(SIGTERM)
            let result = await worker.finish()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try await fetchJob(database, ids[0]).state == .completed)

            let unknownTenant = try await Binaries.run("encours-worker", ["--tenants", "ghost"], environment: environment)
            #expect(unknownTenant.status == 1)
            #expect(unknownTenant.stderr.contains("unknown tenant \"ghost\""))
            let badKind = try await Binaries.run("encours-worker", ["--kinds", "nope"], environment: environment)
            #expect(badKind.status != 0)
            #expect(badKind.stderr.contains("unknown job kind"))
        }
    }

    @Test("crash: 4 workers × 8 on 20,000 jobs, one SIGKILLed mid-way: every job completes, none lost, reruns only its jobs")
    func crashRecovery() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            _ = try await database.withConnection { try JobQueue.enqueueCopies(of: NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": 2}"#), count: 20_000, on: $0) }
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            let arguments = ["--concurrency", "8", "--lease-seconds", "3", "--log-level", "error"]
            let workers = try (0..<4).map { _ in try Binaries.start("encours-worker", arguments, environment: environment) }
            let victim = workers[1]
            try await eventually(database, timeout: .seconds(120)) { connection in
                try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'completed'").decode(Int.self, row: 0, column: 0) >= 5_000
            }
            let victimID = try await database.withConnection { connection in
                try connection.query("SELECT id FROM encours.workers WHERE pid = $1", [Int(victim.pid)]).first?["id"]
            }
            victim.signal(SIGKILL)
            _ = await victim.finish()
            // What it held when it died: running, or finished but not recorded (jobs take 2 ms, so
            // only a count taken after the kill is exact).
            let heldAtDeath = try await database.withConnection { connection in
                try connection.query(
                    "SELECT count(*) FROM encours.jobs WHERE state = 'running' AND worker_id = $1", [victimID]
                ).decode(Int.self, row: 0, column: 0)
            }
            let killedWorker = try #require(victimID)
            try await eventually(database, timeout: .seconds(180)) { connection in
                try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'completed'").decode(Int.self, row: 0, column: 0) == 20_000
            }
            for worker in workers where worker !== victim { worker.signal(SIGTERM) }
            for worker in workers where worker !== victim {
                let result = await worker.finish()
                #expect(result.status == 0, "\(result.stderr)")
            }
            let summary = try await database.withConnection { connection in
                try connection.query(
                    """
                    SELECT count(*) AS total,
                           count(*) FILTER (WHERE state = 'completed') AS completed,
                           count(*) FILTER (WHERE attempt > 1) AS rerun,
                           count(*) FILTER (WHERE attempt > 1 AND attempted_by[1] <> $1) AS rerun_elsewhere,
                           count(*) FILTER (WHERE attempt > 2) AS thrice
                    FROM encours.jobs
                    """, [killedWorker]
                ).rows.map { row in
                    try ["total", "completed", "rerun", "rerun_elsewhere", "thrice"].map { try row.decode($0, as: Int.self) }
                }.first ?? []
            }
            #expect(summary.count == 5)
            guard summary.count == 5 else { return }
            #expect(summary[0] == 20_000, "no job lost")
            #expect(summary[1] == 20_000, "every job completed")
            #expect(summary[2] == heldAtDeath, "exactly the \(heldAtDeath) jobs it held were rerun, not \(summary[2])")
            #expect(summary[3] == 0, "only jobs first held by the killed worker ran twice")
            #expect(summary[4] == 0)
        }
    }

    @Test("encours import lists every problem as FILE:LINE: FIELD: problem and exits 1; good files import")
    func importCommand() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            let good = try csvFile("customers.csv", sageCustomers)
            let imported = try await Binaries.run("encours", ["import", "customers", "--tenant", "acme", good], environment: environment)
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stdout.contains("imported 3 customers: 3 new"))
            let bad = try csvFile("bad.csv", "customer_id;name;language\nC8;;de\nC9;Dup;fr\nC9;Again;fr\n")
            let refused = try await Binaries.run("encours", ["import", "customers", "--tenant", "acme", bad], environment: environment)
            #expect(refused.status == 1)
            let lines = refused.stderr.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.hasPrefix("\(bad):2: name:") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("\(bad):2: language:") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("\(bad):4: customer_id: duplicate of line 3") }, "\(lines)")
            #expect(lines.count == 4, "three problems in line order, then the summary: \(lines)")
            #expect(lines.last?.contains("nothing was imported") == true)
            let missing = try await Binaries.run("encours", ["import", "customers", "--tenant", "acme", "/nonexistent.csv"], environment: environment)
            #expect(missing.status == 1)
            #expect(missing.stderr == "encours: /nonexistent.csv: no such file\n")
            let empty = try await Binaries.run("encours", ["import", "customers", "--tenant", "acme", try csvFile("empty.csv", "")], environment: environment)
            #expect(empty.status == 1)
        }
    }
}

@Suite("worker metrics endpoint")
struct MetricsEndpointTests {
    @Test("--metrics-port serves /healthz and Prometheus /metrics with job counters")
    func metricsAndHealth() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            _ = try await database.withConnection { try JobQueue.enqueueCopies(of: NewJob(tenantID: tenant, kind: "noop"), count: 5, on: $0) }
            let port = ListeningPorts.unused()
            let worker = try Binaries.start(
                "encours-worker", ["--metrics-port", String(port), "--metrics-host", "127.0.0.1"],
                environment: ["ENCOURS_DATABASE_URL": database.url])
            var health: (status: Int, body: String)?
            for _ in 0..<200 {
                health = await httpGet("http://127.0.0.1:\(port)/healthz")
                if health?.status == 200 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(health?.status == 200, "\(String(describing: health))")
            #expect(health?.body.hasPrefix("ok") == true)
            try await eventually(database) { try $0.query("SELECT count(*) FROM encours.jobs WHERE state = 'completed'").decode(Int.self, row: 0, column: 0) == 5 }
            let metrics = await httpGet("http://127.0.0.1:\(port)/metrics")
            #expect(metrics?.status == 200)
            let body = metrics?.body ?? ""
            #expect(body.contains(#"encours_jobs_finished_total{kind="noop",state="completed"} 5"#), "\(body)")
            #expect(body.contains("encours_jobs_claimed_total 5"))
            #expect(body.contains("encours_job_duration_seconds"))
            worker.signal(SIGTERM)
            let result = await worker.finish()
            #expect(result.status == 0, "\(result.stderr)")
        }
    }
}
