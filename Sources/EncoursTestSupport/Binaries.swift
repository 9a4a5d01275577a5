import Foundation

/// The built `encours` and `encours-worker` executables, run as a user would.
public enum Binaries {
    /// Where the executables are: `ENCOURS_BIN_DIR`, else `.build/debug` under the working directory.
    public static var directory: URL {
        if let dir = ProcessInfo.processInfo.environment["ENCOURS_BIN_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appending(path: ".build/debug")
    }

    /// The result of a finished command.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `name` with `arguments` to completion, with extra environment variables.
    public static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Result {
        let process = try start(name, arguments, environment: environment)
        return await process.finish()
    }

    /// Runs a system command (not one of ours) to completion.
    public static func runSystem(_ path: String, _ arguments: [String]) async throws -> Result {
        try await RunningProcess(executable: URL(fileURLWithPath: path), arguments: arguments, environment: [:]).finish()
    }

    /// Starts `name` in the background.
    public static func start(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> RunningProcess {
        try RunningProcess(executable: directory.appending(path: name), arguments: arguments, environment: environment)
    }
}

/// A child process whose output is collected in temporary files.
public final class RunningProcess: @unchecked Sendable {
    public let process = Process()
    private let stdoutURL: URL
    private let stderrURL: URL

    init(executable: URL, arguments: [String], environment: [String: String]) throws {
        let temporary = FileManager.default.temporaryDirectory
        let token = UUID().uuidString
        stdoutURL = temporary.appending(path: "encours-test-\(token).out")
        stderrURL = temporary.appending(path: "encours-test-\(token).err")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.executableURL = executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged["ENCOURS_DATABASE_URL"] = nil
        merged["DATABASE_URL"] = nil
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    /// Sends a signal (SIGTERM, SIGKILL, ...).
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for exit and returns status and output.
    public func finish() async -> Binaries.Result {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        let out = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
        return Binaries.Result(status: process.terminationStatus, stdout: out, stderr: err)
    }
}
