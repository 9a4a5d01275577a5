import CCurl
import EncoursThreads
import Foundation

/// One webhook call: a JSON body POSTed to a URL, signed when a secret is given.
public struct WebhookRequest: Sendable {
    /// The receiver's `http://` or `https://` URL.
    public var url: String
    /// The JSON body, sent as is with `Content-Type: application/json`.
    public var body: [UInt8]
    /// The shared secret; when present the request carries an `Encours-Signature` header.
    public var secret: String?
    /// The identifier of this delivery, the same on every retry, sent as `Encours-Delivery-Id`
    /// so the receiver can ignore a repeat.
    public var deliveryID: String
    /// When the request is signed (the `t=` of the signature).
    public var timestamp: Date
    /// Headers added to the standard ones.
    public var headers: [MessageHeader]

    public init(
        url: String, body: [UInt8], secret: String? = nil, deliveryID: String, timestamp: Date = Date(),
        headers: [MessageHeader] = []
    ) {
        self.url = url
        self.body = body
        self.secret = secret
        self.deliveryID = deliveryID
        self.timestamp = timestamp
        self.headers = headers
    }

    /// The name of the header carrying ``deliveryID``.
    public static let deliveryIDHeader = "Encours-Delivery-Id"
}

/// POSTs webhooks through libcurl, on its own thread, keeping connections alive between calls.
///
/// The transport keeps a single libcurl handle, whose connection cache keeps HTTP/1.1
/// connections open: a hundred calls to one receiver open one connection when the receiver
/// keeps it alive. Redirects are not followed. Calls through one transport run one after the
/// other; make several transports to call in parallel.
public actor WebhookTransport {
    private let executor: DedicatedThreadExecutor
    /// The longest wait for a connection, and for each whole call.
    public nonisolated let timeout: Duration
    /// Whether certificates are left unverified (test receivers only).
    public nonisolated let insecure: Bool
    /// A PEM file of the certificate authorities to trust instead of the system's.
    public nonisolated let certificateAuthorityFile: String?
    /// The libcurl handle, made on first use and kept until ``close()``.
    private var handle: CurlEasyHandle?
    /// One transfer at a time on `handle`.
    private let turns = TransferTurns()

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Headers the transport writes itself, which ``WebhookRequest/headers`` may not give.
    static let reservedHeaders: Set<String> = [
        "content-type", "content-length", "host", "transfer-encoding", "connection", "expect",
        "encours-signature", "encours-delivery-id",
    ]

    public init(
        timeout: Duration = .seconds(10), insecure: Bool = false, certificateAuthorityFile: String? = nil,
        name: String = "encours-webhook"
    ) {
        self.timeout = timeout
        self.insecure = insecure
        self.certificateAuthorityFile = certificateAuthorityFile
        self.executor = DedicatedThreadExecutor(name: name)
    }

    deinit {
        executor.shutdown()
    }

    /// POSTs `request` and returns the HTTP status when it is 2xx.
    ///
    /// Throws ``DeliveryError``: ``DeliveryError/Code/invalidMessage`` for a malformed URL,
    /// delivery id or header (nothing was sent); ``DeliveryError/Code/temporary`` for a refused or
    /// broken connection, a timeout, or HTTP 408, 429 or 5xx; ``DeliveryError/Code/permanent`` for
    /// any other status (4xx, an unfollowed 3xx) or an untrusted certificate. Throws
    /// `CancellationError` when the task is cancelled.
    @discardableResult
    public func post(_ request: WebhookRequest) async throws -> Int {
        let target = try Self.checkedURL(request.url)
        var headers = [
            "Content-Type: application/json",
            "User-Agent: encours",
            "Expect:",  // No "100-continue" round trip before the body.
            "\(WebhookRequest.deliveryIDHeader): \(try Self.checkedDeliveryID(request.deliveryID))",
        ]
        if let secret = request.secret {
            let signature = WebhookSignature.sign(body: request.body, secret: secret, timestamp: request.timestamp)
            headers.append("\(WebhookSignature.headerName): \(signature)")
        }
        for header in request.headers { headers.append(try Self.checkedHeader(header)) }
        try Task.checkCancellation()

        // The actor is re-entered while a transfer awaits; the handle takes one transfer at a time.
        await turns.take()
        defer { turns.give() }
        // Cancelled while waiting for the handle (the job stopped, its lease lost): send nothing.
        try Task.checkCancellation()
        let handle = try liveHandle()
        try handle.set(CURLOPT_URL, request.url)
        try handle.set(CURLOPT_HTTPHEADER, list: headers)
        try handle.setPostBody(request.body)

        let cancellation = handle.state.cancellation
        cancellation.reset()
        let outcome = await withTaskCancellationHandler {
            handle.perform()
        } onCancel: {
            cancellation.cancel()
        }
        if outcome.result == CURLE_ABORTED_BY_CALLBACK, cancellation.isCancelled {
            self.handle = nil
            throw CancellationError()
        }
        guard outcome.succeeded else {
            throw DeliveryError(
                code: outcome.result == CURLE_URL_MALFORMAT ? .invalidMessage : CurlFailure.code(outcome.result),
                message: "webhook \(target): \(outcome.errorText)",
                responseCode: outcome.responseCode == 0 ? nil : outcome.responseCode,
                curlCode: Int(outcome.result.rawValue))
        }
        let status = outcome.responseCode
        if (200..<300).contains(status) { return status }
        var message = "webhook \(target) answered HTTP \(status)"
        if (300..<400).contains(status) { message += " (redirects are not followed)" }
        let excerpt = Self.excerpt(outcome.responseBody)
        if !excerpt.isEmpty { message += ": \(excerpt)" }
        throw DeliveryError(code: .http(status), message: message, responseCode: status)
    }

    /// Closes the kept connections now; the next ``post(_:)`` opens new ones.
    public func close() {
        handle = nil
    }

    /// The kept handle, or a new one with the transport's settings.
    private func liveHandle() throws(DeliveryError) -> CurlEasyHandle {
        if let handle { return handle }
        let handle = try CurlEasyHandle(recordServerLines: false)
        try handle.set(CURLOPT_PROTOCOLS_STR, "http,https")
        try handle.set(CURLOPT_FOLLOWLOCATION, 0)
        try handle.set(CURLOPT_POST, 1)
        try handle.set(CURLOPT_TIMEOUT_MS, timeout.milliseconds)
        try handle.set(CURLOPT_CONNECTTIMEOUT_MS, timeout.milliseconds)
        if insecure {
            try handle.set(CURLOPT_SSL_VERIFYPEER, 0)
            try handle.set(CURLOPT_SSL_VERIFYHOST, 0)
        }
        if let certificateAuthorityFile { try handle.set(CURLOPT_CAINFO, certificateAuthorityFile) }
        self.handle = handle
        return handle
    }

    /// The URL for messages: scheme, host, port and path only (no credentials, no query).
    static func checkedURL(_ url: String) throws(DeliveryError) -> String {
        guard !url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }),
            let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw DeliveryError(code: .invalidMessage, message: "malformed webhook URL: expected http(s)://host/path")
        }
        var text = "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)"
        if let port = components.port { text += ":\(port)" }
        return text + components.percentEncodedPath
    }

    /// The delivery id, checked to be printable ASCII without spaces.
    static func checkedDeliveryID(_ value: String) throws(DeliveryError) -> String {
        guard !value.isEmpty, value.utf8.count <= 200, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw DeliveryError(
                code: .invalidMessage,
                message: "malformed webhook delivery id \(MIME.quoted(value)): 1 to 200 printable ASCII characters, no spaces")
        }
        return value
    }

    /// `Name: value` for an extra header, refusing line breaks, control characters and reserved names.
    static func checkedHeader(_ header: MessageHeader) throws(DeliveryError) -> String {
        let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        guard !header.name.isEmpty, header.name.utf8.allSatisfy({ tokenCharacters.contains($0) }) else {
            throw DeliveryError(code: .invalidMessage, message: "malformed webhook header name \(MIME.quoted(header.name))")
        }
        guard !reservedHeaders.contains(header.name.lowercased()) else {
            throw DeliveryError(code: .invalidMessage, message: "webhook header \(header.name) is written by the transport")
        }
        if header.value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
            throw DeliveryError(
                code: .invalidMessage, message: "webhook header \(header.name) contains a CR or LF, refused (header injection)")
        }
        guard !header.value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) else {
            throw DeliveryError(code: .invalidMessage, message: "webhook header \(header.name) contains a control character")
        }
        return "\(header.name): \(header.value)"
    }

    /// The start of a response body, on one line, for an error message.
    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 }).trimmingSpaces()
    }
}
