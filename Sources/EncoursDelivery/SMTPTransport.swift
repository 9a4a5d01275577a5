import CCurl
import EncoursThreads

/// Sends email to one SMTP server through libcurl, on its own thread, over one kept connection.
///
/// The transport keeps a single libcurl handle, and libcurl keeps its SMTP connection open
/// between messages: a thousand messages through one transport open one connection (plus one
/// more each time the server closes it). When the server has closed the kept connection,
/// libcurl notices and reconnects; when it breaks while the next message starts, the message
/// is sent again once on a new connection. Messages through one transport are sent one after
/// the other; make several transports to send in parallel.
///
/// All libcurl calls run on the transport's ``DedicatedThreadExecutor``, never on Swift's
/// cooperative pool.
public actor SMTPTransport {
    private let executor: DedicatedThreadExecutor
    /// The server and settings this transport sends with.
    public nonisolated let configuration: SMTPConfiguration
    /// The libcurl handle, made on first use and kept until ``close()``.
    private var handle: CurlEasyHandle?
    /// One transfer at a time on `handle`.
    private let turns = TransferTurns()

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Creates a transport; it connects when the first message is sent.
    public init(configuration: SMTPConfiguration, name: String = "encours-smtp") {
        self.configuration = configuration
        self.executor = DedicatedThreadExecutor(name: name)
    }

    deinit {
        // The handle (and its connection) is freed with the actor; the thread ends once idle.
        executor.shutdown()
    }

    /// Sends `message` to all its recipients, waiting for the server's acceptance.
    ///
    /// Throws ``DeliveryError``: ``DeliveryError/Code/invalidMessage`` when the message cannot be
    /// rendered (nothing was sent), ``DeliveryError/Code/temporary`` for a refused or broken
    /// connection, a timeout or an SMTP 4xx reply, ``DeliveryError/Code/permanent`` for an SMTP 5xx
    /// reply (550 recipient refused, 535 credentials refused...) or a TLS requirement or
    /// certificate that cannot be met. Throws `CancellationError` when the task is cancelled
    /// (the transfer is aborted within about a second).
    public func send(_ message: EmailMessage) async throws {
        let bytes = try message.mime()
        let sender = try MIME.address(message.from.address)
        var recipients: [String] = []
        for recipient in message.to { recipients.append("<\(try MIME.address(recipient.address))>") }
        try Task.checkCancellation()

        // The actor is re-entered while a transfer awaits; the handle takes one transfer at a time.
        await turns.take()
        defer { turns.give() }
        // Cancelled while waiting for the handle (the job stopped, its lease lost): send nothing.
        try Task.checkCancellation()
        let handle = try liveHandle()
        try handle.set(CURLOPT_MAIL_FROM, "<\(sender)>")
        try handle.set(CURLOPT_MAIL_RCPT, list: recipients)
        defer { try? handle.set(CURLOPT_MAIL_RCPT, list: nil) }

        var outcome = try await perform(handle, bytes)
        if Self.brokeBeforeData(outcome), !Task.isCancelled {
            // The kept connection broke (or the server said it is closing) before the message
            // body was sent: send it again on a new connection, once.
            try handle.set(CURLOPT_FRESH_CONNECT, 1)
            outcome = try await perform(handle, bytes)
            try handle.set(CURLOPT_FRESH_CONNECT, 0)
        }
        if outcome.succeeded { return }
        throw error(for: outcome)
    }

    /// Closes the connection now (with QUIT); the next ``send(_:)`` opens a new one.
    public func close() {
        handle = nil
    }

    /// Whether a transfer failed because the kept connection it reused was closed before the
    /// message body went out, so that sending again on a new connection cannot duplicate it:
    /// a 421 reply ("closing"), or a broken connection when the last reply was not 354 (the
    /// server's go-ahead for the body) nor a refusal.
    static func brokeBeforeData(_ outcome: CurlTransferOutcome) -> Bool {
        guard !outcome.succeeded, outcome.reusedConnection else { return false }
        if outcome.responseCode == 421 { return true }
        let broken = [CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING].contains(outcome.result)
        return broken && outcome.responseCode != 354 && DeliveryError.Code.smtp(outcome.responseCode) == nil
    }

    /// Runs one transfer, aborting it when the calling task is cancelled.
    private func perform(_ handle: CurlEasyHandle, _ bytes: [UInt8]) async throws -> CurlTransferOutcome {
        let cancellation = handle.state.cancellation
        cancellation.reset()
        let outcome = await withTaskCancellationHandler {
            handle.perform(upload: bytes)
        } onCancel: {
            cancellation.cancel()
        }
        if outcome.result == CURLE_ABORTED_BY_CALLBACK, cancellation.isCancelled {
            self.handle = nil
            throw CancellationError()
        }
        return outcome
    }

    /// The kept handle, or a new one set up from the configuration.
    private func liveHandle() throws(DeliveryError) -> CurlEasyHandle {
        if let handle { return handle }
        let handle = try CurlEasyHandle(recordServerLines: true)
        try handle.set(CURLOPT_URL, configuration.curlURL)
        try handle.set(CURLOPT_PROTOCOLS_STR, "smtp,smtps")
        try handle.set(CURLOPT_UPLOAD, 1)
        switch configuration.security {
        case .implicitTLS, .startTLSRequired: try handle.set(CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue))
        case .startTLSOptional: try handle.set(CURLOPT_USE_SSL, Int(CURLUSESSL_TRY.rawValue))
        case .plain: try handle.set(CURLOPT_USE_SSL, Int(CURLUSESSL_NONE.rawValue))
        }
        if configuration.insecure {
            try handle.set(CURLOPT_SSL_VERIFYPEER, 0)
            try handle.set(CURLOPT_SSL_VERIFYHOST, 0)
        }
        if let file = configuration.certificateAuthorityFile { try handle.set(CURLOPT_CAINFO, file) }
        if let user = configuration.user { try handle.set(CURLOPT_USERNAME, user) }
        if let password = configuration.password { try handle.set(CURLOPT_PASSWORD, password) }
        try handle.set(CURLOPT_TIMEOUT_MS, configuration.timeout.milliseconds)
        try handle.set(CURLOPT_CONNECTTIMEOUT_MS, configuration.timeout.milliseconds)
        self.handle = handle
        return handle
    }

    /// The error for a failed transfer, classified by the SMTP reply when there was one.
    private func error(for outcome: CurlTransferOutcome) -> DeliveryError {
        let server = configuration.hostAndPort
        let code = outcome.responseCode
        if let replyClass = DeliveryError.Code.smtp(code) {
            // The reply that carried the code: the last line starting with it (a "221 Bye" may
            // follow when libcurl closes the connection after the failure).
            let reply = outcome.serverLines.last { $0.hasPrefix("\(code) ") || $0.hasPrefix("\(code)-") || $0 == "\(code)" }
                ?? String(code)
            return DeliveryError(
                code: replyClass, message: "SMTP \(reply) (\(server): \(outcome.errorText))",
                responseCode: code, curlCode: Int(outcome.result.rawValue))
        }
        return DeliveryError(
            code: CurlFailure.code(outcome.result), message: "SMTP \(server): \(outcome.errorText)",
            responseCode: code == 0 ? nil : code, curlCode: Int(outcome.result.rawValue))
    }
}
