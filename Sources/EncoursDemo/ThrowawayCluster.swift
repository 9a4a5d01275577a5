import Foundation

/// A PostgreSQL cluster of the demo's own: initialised in a temporary directory, started on a
/// free port on 127.0.0.1, stopped and deleted at the end. When run as root it runs as the
/// `postgres` user (PostgreSQL refuses root), as Debian's packages install it.
public struct ThrowawayCluster: Sendable {
    /// The cluster's directory (data, socket, log).
    public let directory: String
    public let port: Int
    let binaries: String
    let asPostgres: Bool

    /// A connection string for the `postgres` database as the `postgres` superuser.
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    /// Initialises and starts a cluster; throws ``DemoError`` saying what is missing.
    public static func start() async throws -> ThrowawayCluster {
        guard let binaries = newestServerBinaries() else {
            throw DemoError(
                "no PostgreSQL server found under /usr/lib/postgresql: install it (apt-get install postgresql) or pass --database-url")
        }
        let asPostgres = geteuid() == 0
        if asPostgres {
            guard getpwnam("postgres") != nil else {
                throw DemoError("running as root needs the postgres user (PostgreSQL refuses to run as root): apt-get install postgresql")
            }
        }
        let directory = try makeDirectory()
        if asPostgres, let user = getpwnam("postgres") {
            guard chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw DemoError("cannot give \(directory) to the postgres user")
            }
        }
        let port = try freePort()
        let cluster = ThrowawayCluster(directory: directory, port: port, binaries: binaries, asPostgres: asPostgres)
        try await cluster.run(
            "initdb", ["-D", "\(directory)/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"], what: "initdb")
        try await cluster.run(
            "pg_ctl",
            [
                "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60", "start", "-o",
                "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            ], what: "starting PostgreSQL (its log: \(directory)/server.log)")
        return cluster
    }

    /// Stops the server and deletes its directory.
    public func stop() async {
        try? await run("pg_ctl", ["-D", "\(directory)/data", "-m", "fast", "-w", "stop"], what: "stopping PostgreSQL")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs one of the server's programs (as `postgres` when root), its output to the cluster's log.
    func run(_ program: String, _ arguments: [String], what: String) async throws {
        let log = "\(directory)/\(program).log"
        let command = asPostgres ? ("/usr/sbin/runuser", ["-u", "postgres", "--", "\(binaries)/\(program)"] + arguments) : ("\(binaries)/\(program)", arguments)
        let status = try await ChildProcess.run(command.0, command.1, outputPath: log)
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw DemoError("\(what) failed (exit \(status)): \(output.split(separator: "\n").suffix(3).joined(separator: " / "))")
        }
    }

    /// The bin directory of the newest PostgreSQL installed the Debian way.
    static func newestServerBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        return versions.reversed().map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }

    static func makeDirectory() throws -> String {
        var template = Array("/tmp/encours-demo-pg.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw DemoError("cannot create a temporary directory in /tmp") }
        // Readable by the postgres user's processes once chowned; the socket lives here too.
        chmod(made, 0o700)
        return String(cString: made)
    }

    /// A TCP port on 127.0.0.1 that nobody listens on now (the kernel's pick).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw DemoError("cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw DemoError("cannot find a free TCP port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Child processes for the demo, waited for without blocking Swift's cooperative pool.
enum ChildProcess {
    /// Runs `path` with `arguments` to its end, stdout and stderr appended to `outputPath`; returns its exit status.
    static func run(_ path: String, _ arguments: [String], outputPath: String, environment: [String: String]? = nil) async throws -> Int32 {
        let process = try start(path, arguments, outputPath: outputPath, environment: environment)
        return await exit(of: process)
    }

    /// Starts `path`; its output is appended to `outputPath`.
    static func start(_ path: String, _ arguments: [String], outputPath: String, environment: [String: String]? = nil) throws -> Process {
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        guard let output = FileHandle(forWritingAtPath: outputPath) else { throw DemoError("cannot write \(outputPath)") }
        output.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        if let environment { process.environment = environment }
        do { try process.run() } catch { throw DemoError("cannot start \(path): \(error.localizedDescription)") }
        return process
    }

    /// The exit status of `process`, once it ends (128 + N when signal N ended it).
    ///
    /// Waited for with `waitpid` on a thread of its own: a blocking call never occupies Swift's
    /// cooperative pool, and it does not depend on Foundation noticing SIGCHLD (which an async
    /// `main` does not always let it do).
    static func exit(of process: Process) async -> Int32 {
        let pid = process.processIdentifier
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                var status: Int32 = 0
                var result: pid_t
                repeat { result = waitpid(pid, &status, 0) } while result == -1 && errno == EINTR
                if result == pid {
                    let signal = status & 0x7f
                    continuation.resume(returning: signal == 0 ? (status >> 8) & 0xff : 128 + signal)
                } else {
                    // Already reaped by Foundation: its record of the exit.
                    while process.isRunning { usleep(10_000) }
                    continuation.resume(returning: process.terminationStatus)
                }
            }
            thread.name = "encours-demo-wait"
            thread.start()
        }
    }

    /// Sends SIGTERM to `process` (by pid: Foundation may not know it ended).
    static func terminate(_ process: Process) {
        kill(process.processIdentifier, SIGTERM)
    }
}

/// Why the demo cannot go on, in one line.
public struct DemoError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
