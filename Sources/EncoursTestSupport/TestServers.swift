import EncoursPostgres
import Foundation

/// Real SMTP and webhook servers for delivery tests, run as child processes.
///
/// The servers are the Python scripts of `scripts/testservers/`, run with `/usr/bin/python3`
/// (Debian's, which has python3-aiosmtpd). Each call starts its own server on a free port with
/// its own temporary directory, so tests can run in parallel; the server is stopped and the
/// directory removed when the body returns or throws.
public enum TestServers {
    /// The interpreter the scripts run with.
    public static let python = "/usr/bin/python3"

    /// `scripts/testservers`, found from this source file so tests work from any directory.
    public static var scriptsDirectory: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // EncoursTestSupport
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent()  // package root
            .appending(path: "scripts/testservers")
    }

    /// Runs `body` with an SMTP sink started with `options`, then stops it.
    public static func withSMTPSink<T>(
        _ options: SMTPSinkOptions = SMTPSinkOptions(), _ body: (SMTPSink) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory { root in
            let data = root.appending(path: "data")
            var arguments = [data.path]
            for address in options.refusedRecipients { arguments += ["--refuse", address] }
            if let user = options.user { arguments += ["--auth", "\(user):\(options.password ?? "")"] }
            if let files = options.startTLS { arguments += ["--starttls", files.certificate, files.key] }
            if options.failFirst > 0 { arguments += ["--fail-first", String(options.failFirst)] }
            if options.closeAfterMessage { arguments.append("--close-after-message") }
            if options.delayFirstMessage > .zero { arguments += ["--delay-first-ms", String(options.delayFirstMessage.inMilliseconds)] }
            if let port = options.port { arguments += ["--port", String(port)] }
            let server = try await TestServerProcess.start(script: "smtp_sink.py", arguments: arguments, logDirectory: root)
            return try await server.running { try await body(SMTPSink(port: server.port, directory: data)) }
        }
    }

    /// Runs `body` with a webhook receiver checking signatures made with `secret` (or answering
    /// every request with `status`), answering after `delay`, then stops it.
    public static func withWebhookReceiver<T>(
        secret: String, status: Int? = nil, delay: Duration = .zero, _ body: (WebhookReceiver) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory { root in
            let data = root.appending(path: "data")
            var arguments = [data.path, secret]
            if let status { arguments += ["--status", String(status)] }
            if delay > .zero {
                let (seconds, attoseconds) = delay.components
                arguments += ["--delay", String(Double(seconds) + Double(attoseconds) / 1e18)]
            }
            let server = try await TestServerProcess.start(script: "webhook_receiver.py", arguments: arguments, logDirectory: root)
            return try await server.running { try await body(WebhookReceiver(port: server.port, directory: data)) }
        }
    }

    /// A port on 127.0.0.1 that nothing listens on: one a receiver had, stopped before returning.
    public static func closedPort() async throws -> Int {
        try await withWebhookReceiver(secret: "unused") { $0.port }
    }

    /// Runs `body` with a new empty directory under the system's temporary directory, removed afterwards.
    public static func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appending(path: "encours-delivery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory)
    }

    /// Makes a self-signed certificate for `localhost` and `127.0.0.1` (valid one day) in `directory`.
    public static func makeSelfSignedCertificate(in directory: URL) async throws -> TLSFiles {
        let files = TLSFiles(
            certificate: directory.appending(path: "certificate.pem").path, key: directory.appending(path: "key.pem").path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", files.key, "-out", files.certificate,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: files.certificate) else {
            throw TestServerError(message: "openssl could not make a certificate (status \(process.terminationStatus))")
        }
        return files
    }
}

/// How an SMTP sink misbehaves.
public struct SMTPSinkOptions: Sendable {
    /// Recipients answered `550 5.1.1 <address>: recipient refused`.
    public var refusedRecipients: [String]
    /// When set, AUTH (PLAIN or LOGIN, allowed without TLS) is required with this user...
    public var user: String?
    /// ...and this password.
    public var password: String?
    /// When set, STARTTLS is offered with this certificate and required before MAIL.
    public var startTLS: TLSFiles?
    /// The first this many messages are answered `451 4.3.0`.
    public var failFirst: Int
    /// Close the connection after each accepted message.
    public var closeAfterMessage: Bool
    /// Listen on this port (nil: any free one), e.g. to come back where clients were failing.
    public var port: Int?
    /// The first message's DATA is answered only after this long (its connection stays busy).
    public var delayFirstMessage: Duration

    public init(
        refusedRecipients: [String] = [], user: String? = nil, password: String? = nil, startTLS: TLSFiles? = nil,
        failFirst: Int = 0, closeAfterMessage: Bool = false, port: Int? = nil, delayFirstMessage: Duration = .zero
    ) {
        self.port = port
        self.delayFirstMessage = delayFirstMessage
        self.refusedRecipients = refusedRecipients
        self.user = user
        self.password = password
        self.startTLS = startTLS
        self.failFirst = failFirst
        self.closeAfterMessage = closeAfterMessage
    }
}

/// A certificate and its private key, as PEM files.
public struct TLSFiles: Sendable {
    public var certificate: String
    public var key: String

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }
}

/// A running SMTP sink: where it listens and what it received.
public struct SMTPSink: Sendable {
    /// Its port on 127.0.0.1.
    public let port: Int
    /// Where it writes the messages and the connection count.
    public let directory: URL

    /// How many connections it has accepted.
    public func connectionCount() -> Int { readCount(directory) }

    /// The messages accepted so far, in order.
    public func messages() throws -> [ReceivedEmail] {
        try numberedRecords(directory).map { number, record in
            var email = try JSONDecoder().decode(ReceivedEmail.self, from: record)
            email.raw = (try? Data(contentsOf: directory.appending(path: "\(number).eml"))) ?? Data()
            return email
        }
    }
}

/// A message as the sink received and parsed it (with Python's email package).
public struct ReceivedEmail: Sendable, Decodable {
    /// The envelope sender and recipients.
    public var mailFrom: String
    public var recipients: [String]
    /// Whether the session was under TLS (STARTTLS).
    public var tls: Bool
    /// The login of an authenticated session.
    public var login: String?
    /// Headers, decoded.
    public var subject: String?
    public var messageID: String?
    public var from: String?
    public var to: String?
    /// The top-level content type, e.g. `multipart/alternative`.
    public var contentType: String
    /// The decoded text and HTML parts.
    public var text: String?
    public var html: String?
    /// The parser's complaints (names of `email.errors` defect classes); empty for a clean message.
    public var defects: [String]
    /// The longest line, in bytes, without its CRLF.
    public var maxLineLength: Int
    /// Line feeds not preceded by a carriage return.
    public var bareLineFeeds: Int
    /// The message as received.
    public var raw = Data()

    enum CodingKeys: String, CodingKey {
        case mailFrom = "mail_from", recipients = "rcpt_tos", tls, login, subject, messageID = "message_id", from, to
        case contentType = "content_type", text, html, defects, maxLineLength = "max_line_length"
        case bareLineFeeds = "bare_line_feeds"
    }
}

/// A running webhook receiver: where it listens and what it accepted.
public struct WebhookReceiver: Sendable {
    /// Its port on 127.0.0.1.
    public let port: Int
    /// Where it writes the accepted requests and the connection count.
    public let directory: URL

    /// `http://127.0.0.1:<port><path>`.
    public func url(path: String = "/hooks/encours") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// How many connections it has accepted.
    public func connectionCount() -> Int { readCount(directory) }

    /// The requests accepted so far (signature verified), in order.
    public func deliveries() throws -> [ReceivedWebhook] {
        try numberedRecords(directory).map { number, record in
            var delivery = try JSONDecoder().decode(ReceivedWebhook.self, from: record)
            delivery.body = (try? Data(contentsOf: directory.appending(path: "\(number).body"))) ?? Data()
            return delivery
        }
    }
}

/// A request the receiver accepted.
public struct ReceivedWebhook: Sendable, Decodable {
    public var deliveryID: String?
    public var path: String
    public var contentType: String?
    public var signature: String?
    public var body = Data()

    enum CodingKeys: String, CodingKey {
        case deliveryID = "delivery_id", path, contentType = "content_type", signature
    }
}

/// A test server failed to start or behave.
public struct TestServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A test server child process and the port it printed.
final class TestServerProcess: @unchecked Sendable {
    private let process: Process
    let port: Int

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    /// Starts `script` and waits (up to 10 s) for its `PORT n` line.
    static func start(script: String, arguments: [String], logDirectory: URL) async throws -> TestServerProcess {
        let output = logDirectory.appending(path: "stdout.log")
        let errors = logDirectory.appending(path: "stderr.log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestServers.python)
        process.arguments = [TestServers.scriptsDirectory.appending(path: script).path] + arguments
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, text.contains("\n"),
                line.hasPrefix("PORT "), let port = Int(line.dropFirst(5))
            {
                return TestServerProcess(process: process, port: port)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let server = TestServerProcess(process: process, port: 0)
        await server.stop()
        let log = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        throw TestServerError(message: "\(script) did not print its port: \(log.suffix(2000))")
    }

    /// Runs `body`, then stops the process whether `body` returned or threw.
    func running<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let value = try await body()
            await stop()
            return value
        } catch {
            await stop()
            throw error
        }
    }

    /// Sends SIGTERM, then SIGKILL if the process has not ended within 5 s, and waits for its end.
    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                break
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(5)) }
    }
}

/// The number in a server's `connections` file (0 when missing).
private func readCount(_ directory: URL) -> Int {
    let text = (try? String(contentsOf: directory.appending(path: "connections"), encoding: .utf8)) ?? "0"
    return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}

/// The `<n>.json` records of a server's directory, in numeric order.
private func numberedRecords(_ directory: URL) throws -> [(Int, Data)] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    let numbers = names.compactMap { name -> Int? in
        guard name.hasSuffix(".json") else { return nil }
        return Int(name.dropLast(5))
    }
    return try numbers.sorted().map { ($0, try Data(contentsOf: directory.appending(path: "\($0).json"))) }
}
