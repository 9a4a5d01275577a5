import CLibPQ
import Foundation

/// A notification received on a channel this connection listens on.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    public var processID: Int32
}

/// One synchronous libpq connection.
///
/// Every call blocks the calling thread until the server answers, so a connection is only ever used
/// from the dedicated thread of a ``PostgresSession``; it is deliberately not `Sendable`.
public final class PostgresConnection {
    private var handle: OpaquePointer?
    /// Server notices (warnings, `LOG` lines when `client_min_messages` asks for them); kept
    /// only while ``captureNotices`` is true, otherwise dropped so they never reach stderr.
    private var notices = NoticeBuffer()
    /// The connection string or URI this connection was opened with.
    public let connectionString: String

    /// Keep server notices for ``takeNotices()`` (default false: they are dropped).
    public var captureNotices: Bool {
        get { notices.capturing }
        set { notices.capturing = newValue }
    }

    /// The notices kept since the last call, oldest first.
    public func takeNotices() -> [String] { notices.take() }

    /// Opens a connection from a libpq connection string or `postgresql://` URI.
    ///
    /// `options` bound how long connecting may take and how soon a dead peer is noticed; any
    /// of them set in the connection string itself wins. The session is set to UTC and ISO
    /// dates so timestamps decode the same way everywhere.
    @available(*, noasync, message: "blocks its thread: open connections through a PostgresSession")
    public init(connectionString: String, options: PostgresConnectionOptions = .standard) throws {
        self.connectionString = connectionString
        // Validate the string first so a malformed URL gets libpq's parse error, not a connect attempt.
        var parseError: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(connectionString, &parseError) {
            PQconninfoFree(options)
        } else {
            let message = parseError.map { String(cString: $0) } ?? "invalid connection string"
            if let parseError { PQfreemem(parseError) }
            throw PostgresError(code: .connectionFailed, message: "invalid database URL: \(Self.oneLine(message))")
        }
        // The defaults come before the connection string, so its own settings override them.
        let pairs = options.parameters + [("dbname", connectionString)]
        handle = Self.withCStrings(pairs.map(\.0)) { keywords in
            Self.withCStrings(pairs.map(\.1)) { values in
                PQconnectdbParams(keywords + [nil], values + [nil], 1)
            }
        }
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            if let handle { PQfinish(handle) }
            self.handle = nil
            throw PostgresError(code: .connectionFailed, message: "cannot connect to PostgreSQL: \(Self.oneLine(message))")
        }
        let notices = NoticeBuffer()
        self.notices = notices
        PQsetNoticeProcessor(handle, { context, message in
            guard let context, let message else { return }
            Unmanaged<NoticeBuffer>.fromOpaque(context).takeUnretainedValue().receive(String(cString: message))
        }, Unmanaged.passUnretained(notices).toOpaque())
        try execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'")
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Closes the connection; later calls fail with `connectionLost`.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// True while libpq considers the connection usable.
    public var isHealthy: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Reads what the server sent while the connection sat idle, then says whether it is still
    /// usable.
    ///
    /// libpq notices a closed connection only when it next does I/O, so after a server restart
    /// an idle connection still reads `CONNECTION_OK` and the next statement fails. This reads,
    /// without blocking, whatever is waiting on the socket (the server's "terminating connection"
    /// notice, the end of the stream), so a connection the server closed is found out before
    /// it is used. Notifications read here stay queued for ``waitForNotifications(timeout:interrupt:)``.
    public func refreshStatus() -> Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
        guard PQtransactionStatus(handle) == PQTRANS_IDLE else { return true }
        // The notice and the end of the stream may come in two reads.
        for _ in 0..<4 {
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { break }
            guard PQconsumeInput(handle) == 1 else { break }
            _ = PQisBusy(handle)  // parses what was read (an error while idle becomes a notice)
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Where the connection stands between statements.
    public enum TransactionStatus: Sendable {
        /// Idle, outside any transaction: the state a connection must be returned in.
        case idle
        /// Inside a transaction block.
        case inTransaction
        /// Inside a failed transaction block (only ROLLBACK is accepted).
        case failedTransaction
        /// A statement is running, or the connection is bad.
        case busyOrBroken
    }

    /// The connection's transaction status (`PQtransactionStatus`).
    public var transactionStatus: TransactionStatus {
        guard let handle else { return .busyOrBroken }
        switch PQtransactionStatus(handle) {
        case PQTRANS_IDLE: return .idle
        case PQTRANS_INTRANS: return .inTransaction
        case PQTRANS_INERROR: return .failedTransaction
        default: return .busyOrBroken
        }
    }

    /// The backend's process id (useful to tell connections apart in `pg_stat_activity`).
    public var backendProcessID: Int32 {
        handle.map { PQbackendPID($0) } ?? 0
    }

    private func liveHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(code: .connectionLost, message: "the PostgreSQL connection is closed")
        }
        return handle
    }

    // MARK: Statements

    /// Runs one parameterized statement (extended protocol, text-format values) and returns its result.
    ///
    /// A parameter containing a NUL character is refused before anything is sent: libpq passes
    /// values as C strings, so it would silently be cut at the NUL.
    @discardableResult
    @available(*, noasync, message: "blocks its thread: run statements through PostgresSession.withConnection")
    public func query(_ sql: String, _ parameters: [PostgresEncodable?] = []) throws -> PostgresResult {
        let handle = try liveHandle()
        let texts = parameters.map { $0?.postgresText }
        for (index, text) in texts.enumerated() where text?.utf8.contains(0) == true {
            throw PostgresError(
                code: .invalidParameter, message: "parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold",
                query: sql)
        }
        let result = Self.withCStrings(texts) { pointers in
            PQexecParams(handle, sql, Int32(pointers.count), nil, pointers, nil, nil, 0)
        }
        return try checked(result, sql: sql)
    }

    /// Runs one or more statements without parameters (simple protocol), as for migrations.
    @available(*, noasync, message: "blocks its thread: run statements through PostgresSession.withConnection")
    public func execute(_ sql: String) throws {
        let handle = try liveHandle()
        // PQexec returns the last result only; errors abort the rest, which is what a script wants.
        let result = PQexec(handle, sql)
        _ = try checked(result, sql: sql)
    }

    /// Runs `body` inside `BEGIN`/`COMMIT`, rolling back if it throws.
    @available(*, noasync, message: "blocks its thread: use PostgresSession.transaction")
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body(self)
            try execute("COMMIT")
            return value
        } catch {
            if isHealthy { try? execute("ROLLBACK") }
            throw error
        }
    }

    // MARK: COPY

    /// Streams rows into `COPY ... FROM STDIN` (text format); `chunks` yields already-encoded lines.
    /// Returns the number of rows copied.
    @discardableResult
    @available(*, noasync, message: "blocks its thread: run COPY through PostgresSession.withConnection")
    public func copyIn(_ sql: String, chunks: some Sequence<String>) throws -> Int {
        let handle = try liveHandle()
        let start = PQexec(handle, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try checked(start, sql: sql)
            throw PostgresError(code: .client, message: "COPY did not start", query: sql)
        }
        PQclear(start)
        // Lines are gathered into ~64 KiB messages: one libpq call per line costs more than the copy.
        var pending = ""
        pending.reserveCapacity(1 << 16)
        func flush() throws {
            guard !pending.isEmpty else { return }
            let sent = pending.withUTF8 { buffer in
                buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
            }
            pending.removeAll(keepingCapacity: true)
            guard sent == 1 else {
                PQputCopyEnd(handle, "client failed to send data")
                throw PostgresError(code: .client, message: "COPY failed: \(Self.oneLine(String(cString: PQerrorMessage(handle))))", query: sql)
            }
        }
        for chunk in chunks {
            pending += chunk
            if pending.utf8.count >= 1 << 16 { try flush() }
        }
        try flush()
        guard PQputCopyEnd(handle, nil) == 1 else {
            throw PostgresError(code: .client, message: "COPY failed: \(Self.oneLine(String(cString: PQerrorMessage(handle))))", query: sql)
        }
        let result = try checked(PQgetResult(handle), sql: sql)
        while let extra = PQgetResult(handle) { PQclear(extra) }
        return result.affectedRows
    }

    /// Escapes a line for COPY text format (backslash, tab, newline, carriage return).
    public static func copyEscape(_ value: String?) -> String {
        guard let value else { return "\\N" }
        if !value.utf8.contains(where: { $0 == 92 || $0 == 9 || $0 == 10 || $0 == 13 }) { return value }
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    // MARK: LISTEN/NOTIFY

    /// Starts listening on `channel`.
    @available(*, noasync, message: "blocks its thread: run it through PostgresSession.withConnection")
    public func listen(_ channel: String) throws {
        try execute("LISTEN \(Self.quoteIdentifier(channel))")
    }

    /// Returns pending notifications, waiting up to `timeout` for the first one if none is pending.
    ///
    /// `interrupt`, when given, ends the wait early (with no notifications) once another thread
    /// calls its ``PostgresWaitInterrupt/interrupt()``: how a listener stops promptly.
    @available(*, noasync, message: "blocks its thread: run it through PostgresSession.withConnection")
    public func waitForNotifications(timeout: Duration, interrupt: PostgresWaitInterrupt? = nil) throws -> [PostgresNotification] {
        let handle = try liveHandle()
        var notes = try drainNotifications(handle)
        if !notes.isEmpty { return notes }
        let socket = PQsocket(handle)
        guard socket >= 0 else {
            throw PostgresError(code: .connectionLost, message: "the PostgreSQL connection has no socket")
        }
        var descriptors = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
        if let interrupt { descriptors.append(pollfd(fd: interrupt.readDescriptor, events: Int16(POLLIN), revents: 0)) }
        let milliseconds = Int32(clamping: timeout.inMilliseconds)
        let ready = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
        if ready < 0, errno != EINTR {
            throw PostgresError(code: .connectionLost, message: "poll failed: \(String(cString: strerror(errno)))")
        }
        if let interrupt, descriptors.count > 1, descriptors[1].revents != 0 { interrupt.reset() }
        if ready > 0, descriptors[0].revents != 0 { notes = try drainNotifications(handle) }
        return notes
    }

    private func drainNotifications(_ handle: OpaquePointer) throws -> [PostgresNotification] {
        guard PQconsumeInput(handle) == 1 else {
            throw PostgresError(code: .connectionLost, message: "lost the PostgreSQL connection: \(Self.oneLine(String(cString: PQerrorMessage(handle))))")
        }
        var notes: [PostgresNotification] = []
        while let note = PQnotifies(handle) {
            notes.append(PostgresNotification(
                channel: String(cString: note.pointee.relname),
                payload: String(cString: note.pointee.extra),
                processID: note.pointee.be_pid))
            PQfreemem(note)
        }
        return notes
    }

    /// A handle another thread can use to cancel the statement this connection is running.
    public func makeCancelHandle() -> PostgresCancelHandle? {
        guard let handle, let cancel = PQgetCancel(handle) else { return nil }
        return PostgresCancelHandle(cancel)
    }

    // MARK: Helpers

    /// Quotes an SQL identifier (for LISTEN channels and schema names, never for values).
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private func checked(_ result: OpaquePointer?, sql: String) throws -> PostgresResult {
        guard let result else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "no connection"
            throw PostgresError(code: isHealthy ? .client : .connectionLost, message: Self.oneLine(message), query: sql)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN:
            return PostgresResult(result)
        default:
            func field(_ code: Character) -> String? {
                guard let value = PQresultErrorField(result, Int32(code.asciiValue ?? 0)) else { return nil }
                return String(cString: value)
            }
            let sqlState = field("C")
            let primary = field("M") ?? String(cString: PQresultErrorMessage(result))
            let detail = field("D")
            PQclear(result)
            let lost = !isHealthy
            throw PostgresError(
                code: lost ? .connectionLost : .server, message: Self.oneLine(primary),
                sqlState: sqlState, detail: detail.map(Self.oneLine), query: sql)
        }
    }

    /// libpq's message on one line: its lines joined by "; " (a line already ending in
    /// punctuation by a space), so "…failed: Connection refused" and "Is the server running…"
    /// stay two sentences.
    static func oneLine(_ text: String) -> String {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var joined = ""
        for line in lines {
            if let last = joined.last { joined += ".:;,?!".contains(last) ? " " : "; " }
            joined += line
        }
        return joined
    }

    private static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        var storage: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
        defer { for pointer in storage { free(pointer) } }
        return storage.withUnsafeMutableBufferPointer { buffer in
            body(buffer.map { $0.map { UnsafePointer($0) } })
        }
    }
}

/// Collects server notices for a connection that asked to keep them.
final class NoticeBuffer {
    var capturing = false
    private var kept: [String] = []

    func receive(_ message: String) {
        guard capturing else { return }
        kept.append(message.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func take() -> [String] {
        defer { kept.removeAll() }
        return kept
    }
}

/// Ends a ``PostgresConnection/waitForNotifications(timeout:interrupt:)`` early, from any thread.
///
/// A self-pipe: ``interrupt()`` writes a byte the waiting `poll` sees. An interrupt sent while
/// nobody waits ends the next wait at once.
public final class PostgresWaitInterrupt: Sendable {
    let readDescriptor: Int32
    private let writeDescriptor: Int32

    /// Creates the pipe; throws when the process is out of file descriptors.
    public init() throws {
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else {
            throw PostgresError(code: .client, message: "pipe failed: \(String(cString: strerror(errno)))")
        }
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        readDescriptor = descriptors[0]
        writeDescriptor = descriptors[1]
    }

    deinit {
        close(readDescriptor)
        close(writeDescriptor)
    }

    /// Wakes the current (or next) wait.
    public func interrupt() {
        var byte: UInt8 = 1
        _ = write(writeDescriptor, &byte, 1)
    }

    /// Empties the pipe once a wait has seen it.
    func reset() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readDescriptor, &buffer, buffer.count) > 0 {}
    }
}

/// Cancels the statement running on a connection, from any thread.
public final class PostgresCancelHandle: @unchecked Sendable {
    private let cancel: OpaquePointer
    init(_ cancel: OpaquePointer) { self.cancel = cancel }
    deinit { PQfreeCancel(cancel) }

    /// Asks the server to cancel the current statement; returns false if the request could not be sent.
    @discardableResult
    public func cancelStatement() -> Bool {
        var buffer = [CChar](repeating: 0, count: 256)
        return PQcancel(cancel, &buffer, Int32(buffer.count)) == 1
    }
}
