import EncoursPostgres
import EncoursQueue
import EncoursTestSupport
import Foundation
import Testing

@Suite("The queue under stress, through the binaries")
struct HardeningTests {
    @Test("30 tenants with dunning.run jobs and no handler for them, then 5 noop jobs: encours-worker --drain runs the 5 and exits")
    func stallReproduction() async throws {
        try await TestDatabase.with { database in
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            for index in 1...30 {
                let slug = String(format: "t%02d", index)
                #expect(try await Binaries.run("encours", ["tenant", "create", slug, "--name", slug], environment: environment).status == 0)
                #expect(try await Binaries.run("encours", ["enqueue", "dunning.run", "--tenant", slug], environment: environment).status == 0)
            }
            #expect(try await Binaries.run("encours", ["tenant", "create", "zz", "--name", "ZZ"], environment: environment).status == 0)
            #expect(try await Binaries.run("encours", ["enqueue", "noop", "--tenant", "zz", "--count", "5"], environment: environment).status == 0)
            for concurrency in ["10", "1"] {
                try await database.withConnection { try $0.execute("UPDATE encours.jobs SET state = 'available' WHERE kind = 'noop'") }
                let started = ContinuousClock.now
                let drained = try await Binaries.run("encours-worker", ["--drain", "--concurrency", concurrency], environment: environment)
                let elapsed = ContinuousClock.now - started
                #expect(drained.status == 0, "\(drained.stderr)")
                #expect(try await database.integer("SELECT count(*) FROM encours.jobs WHERE kind = 'noop' AND state = 'completed'") == 5)
                // Process start and connections included; the claims themselves take milliseconds.
                #expect(elapsed < .seconds(10), "--concurrency \(concurrency): \(elapsed)")
            }
        }
    }

    @Test("enqueue refuses what it cannot store, with one line naming the field and the limit, and writes nothing")
    func enqueueEdges() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            let bigPayload = try temporaryFile("big.json", Data((#"{"a": ""# + String(repeating: "x", count: 1 << 20) + #""}"#).utf8))
            let badUTF8 = try temporaryFile("bad.json", Data([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]))
            let cases: [([String], String)] = [
                (["enqueue", "noop", "--tenant", "acme", "--count", "1000001"], "--count 1000001: use 1 to 1000000"),
                (["enqueue", "noop", "--tenant", "acme", "--count", "9223372036854775807"], "--count"),
                (["enqueue", "noop", "--tenant", "acme", "--payload", #"{"a": "x\u0000y"}"#], "\\u0000"),
                (["enqueue", "dunning.run", "--tenant", "acme", "--payload", #"{"as_off": "2026-12-01"}"#],
                 #"unknown field "as_off" in a dunning.run payload; its fields are as_of"#),
                (["enqueue", "dunning.run", "--tenant", "acme", "--payload", #"{"as_of": "2026-02-30"}"#], #"as_of "2026-02-30" is not a date"#),
                (["enqueue", "reminder.deliver", "--tenant", "acme", "--payload", #"{"reminder_ids": ["1"]}"#], "reminder_ids"),
                (["enqueue", "reminder.deliver", "--tenant", "acme"], "names reminder_ids, reminder_id or notification_id"),
                (["enqueue", "risk.recalc", "--tenant", "acme", "--payload", #"{"customer_ids": [1, 2]}"#], "customer_ids"),
                (["enqueue", "disputes.escalate", "--tenant", "acme", "--payload", #"{"at": "tomorrow"}"#], "at:"),
                (["enqueue", "noop", "--tenant", "acme", "--unique-key", String(repeating: "k", count: 600)], "--unique-key: 600 bytes; use 1 to 512"),
                (["enqueue", "noop", "--tenant", "acme", "--max-attempts", "0"], "--max-attempts"),
                (["enqueue", "noop", "--tenant", "acme", "--payload-file", bigPayload], "more than 1048576 bytes"),
                (["enqueue", "noop", "--tenant", "acme", "--payload-file", badUTF8], "not valid UTF-8 at byte 7"),
                (["enqueue", "noop", "--tenant", "acme", "--payload-file", "/nonexistent.json"], "no such file"),
                (["enqueue", "noop", "--tenant", "acme", "--payload-file", "/tmp"], "/tmp: is a directory, not a file"),
                // JSON Foundation reads and PostgreSQL does not: said so, without a raw SQLSTATE.
                (["enqueue", "noop", "--tenant", "acme", "--payload", #"{"sleep_ms": 1,}"#], "PostgreSQL cannot store it as JSON"),
                (["enqueue", "noop", "--tenant", "acme", "--payload", "\u{FEFF}{}"], "byte order mark"),
                (["enqueue", "noop", "--tenant", "acme", "--payload", #"{"fail": "\ud800"}"#], "is not JSON that Encours reads"),
                // Control characters of a value are escaped, a long value cut.
                (["enqueue", "no\u{1B}[31mop", "--tenant", "acme"], #"unknown job kind "no\u{1b}[31mop""#),
                (["enqueue", String(repeating: "x", count: 10_000), "--tenant", "acme"], "xxx…"),
                (["tenant", "set", "acme", "max_concurrent_jobs", "2147483648"], "max_concurrent_jobs"),
                (["tenant", "set", "acme", "recovery_indemnity", "40.001"], "more than two decimals"),
            ]
            for (arguments, expected) in cases {
                let result = try await Binaries.run("encours", arguments, environment: environment)
                #expect(result.status != 0, "\(arguments.prefix(6)) exited 0")
                #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments.prefix(6)): \(result.stderr)")
                #expect(result.stderr.contains(expected), "\(arguments.prefix(6)): \(result.stderr)")
                #expect(!result.stderr.contains("SQLSTATE"), "\(result.stderr)")
                #expect(!result.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "raw control character: \(result.stderr)")
                #expect(result.stderr.count < 400, "\(result.stderr.count) characters")
            }
            // An argument that is not UTF-8 is refused, not repaired into U+FFFD.
            let binary = Binaries.directory.appending(path: "encours").path
            let raw = try await Binaries.runSystem(
                "/bin/sh", ["-c", #"exec "$0" enqueue noop --tenant acme --database-url "$1" --payload "$(printf '{"a":"\377"}')""#, binary, database.url])
            #expect(raw.status != 0)
            #expect(raw.stderr.contains("not valid UTF-8"), "\(raw.stderr)")
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs") == 0)
            let tenant = try await database.withConnection { try $0.query("SELECT max_concurrent_jobs FROM encours.tenants").first?[0] }
            #expect(tenant == nil)

            // A payload from a file and from standard input.
            let good = try temporaryFile("good.json", Data(#"{"fail": "é ✓ \"quoted\""}"#.utf8))
            #expect(try await Binaries.run("encours", ["enqueue", "noop", "--tenant", "acme", "--payload-file", good], environment: environment).status == 0)
            let piped = try await Binaries.runSystem(
                "/bin/sh", ["-c", #"printf '{"fail": "stdin"}' | "$0" enqueue noop --tenant acme --payload-file - --database-url "$1""#, binary, database.url])
            #expect(piped.status == 0, "\(piped.stderr)")
            let notes = try await database.withConnection {
                try $0.query("SELECT payload->>'fail' FROM encours.jobs ORDER BY id").rows.compactMap { $0[0] }
            }
            #expect(notes == ["é ✓ \"quoted\"", "stdin"])
        }
    }

    @Test("SIGINT during enqueue --count 1000000 cancels the INSERT on the server: exit 130, nothing inserted, nothing left running")
    func interruptedEnqueue() async throws {
        try await TestDatabase.with { database in
            _ = try await makeTenant(database, "acme")
            let process = try Binaries.start(
                "encours", ["enqueue", "noop", "--tenant", "acme", "--count", "1000000"], environment: ["ENCOURS_DATABASE_URL": database.url])
            let name = database.name
            try await eventually(database, timeout: .seconds(20)) { connection in
                try connection.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE 'INSERT INTO encours.jobs%'", [name]
                ).decode(Int.self, row: 0, column: 0) == 1
            }
            process.signal(SIGINT)
            let result = await process.finish()
            #expect(result.status == 130, "\(result.stderr)")
            #expect(result.stderr.contains("interrupted"), "\(result.stderr)")
            try await eventually(database, timeout: .seconds(10)) { connection in
                try connection.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'INSERT INTO encours.jobs%' AND state = 'active'", [name]
                ).decode(Int.self, row: 0, column: 0) == 0
            }
            #expect(try await database.integer("SELECT count(*) FROM encours.jobs") == 0)
        }
    }

    @Test("worker flags out of range are refused at start with the flag, the value and the range")
    func workerFlagRanges() async throws {
        try await TestDatabase.with { database in
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            for (arguments, expected) in [
                (["--shutdown-grace-seconds", "-1"], "--shutdown-grace-seconds"),
                (["--lease-seconds", "946080000"], "--lease-seconds 946080000.0 is out of range"),
                (["--concurrency", "0"], "--concurrency"),
                (["--poll-interval-ms", "1"], "--poll-interval-ms"),
            ] {
                let result = try await Binaries.run("encours-worker", arguments, environment: environment)
                #expect(result.status != 0, "\(arguments)")
                #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            }
        }
    }

    @Test("database gone mid-run: /healthz fails within seconds, SIGTERM exits 0 naming the unrecorded results, queue check flags the lapsed leases, and --drain finishes them")
    func strandedWork() async throws {
        try await TestDatabase.with { database in
            let tenant = try await makeTenant(database, "acme")
            _ = try await database.withConnection {
                try JobQueue.enqueueCopies(of: NewJob(tenantID: tenant, kind: "noop", payload: #"{"sleep_ms": 8000}"#), count: 4, on: $0)
            }
            let environment = ["ENCOURS_DATABASE_URL": database.url]
            let port = ListeningPorts.unused()
            let worker = try Binaries.start(
                "encours-worker", ["--lease-seconds", "20", "--metrics-port", String(port), "--metrics-host", "127.0.0.1"], environment: environment)
            try await eventually(database) { try $0.query("SELECT count(*) FROM encours.jobs WHERE state = 'running'").decode(Int.self, row: 0, column: 0) == 4 }
            let running = ContinuousClock.now
            // The jobs run 8 s, well within their 20 s leases (the worker's local deadline is 5/6 of
            // a lease after the last renewal): cutting the database off takes a few seconds on a
            // loaded machine, and the jobs must still be running then, to finish while nothing can be recorded.
            try await database.cutOff()
            let cut = ContinuousClock.now
            var status = 200
            while status == 200, ContinuousClock.now - cut < .seconds(15) {
                status = await httpGet("http://127.0.0.1:\(port)/healthz")?.status ?? 0
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == 503)
            #expect(ContinuousClock.now - cut < .seconds(6), "/healthz failed only after \(ContinuousClock.now - cut)")
            let unknown = try await Binaries.run("encours", ["queue", "check"], environment: environment)
            #expect(unknown.status == 3, "\(unknown.stdout)")
            // The handlers finish while nothing can be recorded; then SIGTERM.
            try await Task.sleep(until: running + .milliseconds(8500))
            worker.signal(SIGTERM)
            let stopped = ContinuousClock.now
            let result = await worker.finish()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(ContinuousClock.now - stopped < .seconds(20))
            #expect(result.stderr.contains("could not record the results of finished jobs"), "\(result.stderr)")
            #expect(result.stderr.contains("jobs=4"), "\(result.stderr)")
            try await database.reopen()

            try await eventually(database, timeout: .seconds(40)) { connection in
                try connection.query("SELECT count(*) FROM encours.jobs WHERE state = 'running' AND lease_expires_at < now()").decode(Int.self, row: 0, column: 0) == 4
            }
            let check = try await Binaries.run("encours", ["queue", "check", "--max-lapse-seconds", "3600"], environment: environment)
            #expect(check.status == 1, "\(check.stdout)")
            #expect(check.stdout.contains("4 running jobs with a lapsed lease"), "\(check.stdout)")
            let critical = try await Binaries.run("encours", ["queue", "check", "--max-lapse-seconds", "0"], environment: environment)
            #expect(critical.status == 2, "\(critical.stdout)")
            let drained = try await Binaries.run("encours-worker", ["--drain"], environment: environment)
            #expect(drained.status == 0, "\(drained.stderr)")
            #expect(try await stateCount(database, .completed) == 4)
        }
    }
}
