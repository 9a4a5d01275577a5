import CCurl
import Synchronization

/// libcurl's process-wide initialisation, done once on first use.
enum CurlLibrary {
    /// The result of `curl_global_init`, called exactly once (a global `let` is initialised atomically).
    private static let initialization: UInt32 = encours_curl_global_init().rawValue

    /// Initialises libcurl if it is not yet, and reports a failure to do so.
    static func initialize() throws(DeliveryError) {
        guard initialization == CURLE_OK.rawValue else {
            throw DeliveryError(
                code: .permanent,
                message: "libcurl could not be initialised: \(describe(CURLcode(rawValue: initialization)))",
                curlCode: Int(initialization))
        }
    }

    /// libcurl's text for a result code.
    static func describe(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }
}

/// A flag set from any thread when the task running a transfer is cancelled.
final class CancellationFlag: Sendable {
    private let value = Atomic<Bool>(false)

    /// Marks the running transfer as cancelled.
    func cancel() { value.store(true, ordering: .relaxed) }
    /// Clears the flag before a new transfer.
    func reset() { value.store(false, ordering: .relaxed) }
    /// Whether the running transfer is to be aborted.
    var isCancelled: Bool { value.load(ordering: .relaxed) }
}

/// What the libcurl callbacks of one handle read and write during a transfer.
///
/// Only touched on the thread running `curl_easy_perform`, through an unretained pointer
/// that the owning ``CurlEasyHandle`` keeps valid.
final class CurlTransferState {
    /// The bytes to upload (the SMTP message).
    var upload: [UInt8] = []
    /// How many of them the read callback has handed over.
    var uploadOffset = 0
    /// The start of the response body (HTTP), kept for error messages.
    var response: [UInt8] = []
    /// How much of the response body to keep.
    let responseLimit = 2048
    /// The last lines the server sent (SMTP replies), for error messages.
    var serverLines: [String] = []
    /// Set when the calling task is cancelled; the progress callback then aborts the transfer.
    let cancellation = CancellationFlag()

    /// Prepares for a new transfer. The cancellation flag is left alone: the caller clears it
    /// before it installs its cancellation handler, and a cancel that came since must stand.
    func reset(upload: [UInt8]) {
        self.upload = upload
        uploadOffset = 0
        response.removeAll(keepingCapacity: true)
        serverLines.removeAll(keepingCapacity: true)
    }
}

/// What one `curl_easy_perform` gave.
struct CurlTransferOutcome {
    /// The libcurl result.
    var result: CURLcode
    /// The last SMTP reply code or HTTP status (0 when none was received).
    var responseCode: Int
    /// Whether the transfer ran on a connection kept from an earlier one.
    var reusedConnection: Bool
    /// libcurl's detailed error text (CURLOPT_ERRORBUFFER), or its generic text for the code.
    var errorText: String
    /// The last lines the server sent (at most 16), when the handle records them.
    var serverLines: [String]
    /// The start of the response body.
    var responseBody: [UInt8]

    var succeeded: Bool { result == CURLE_OK }
}

/// One libcurl easy handle, kept across transfers so that its connection is reused.
///
/// Not thread-safe: each transport actor owns one and uses it only on its own thread.
final class CurlEasyHandle {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    let state = CurlTransferState()
    /// String lists the handle points to, kept alive until replaced.
    private var lists: [Int32: CurlStringList] = [:]

    /// Creates a handle with the callbacks and settings common to every transfer.
    init(recordServerLines: Bool) throws(DeliveryError) {
        try CurlLibrary.initialize()
        guard let handle = curl_easy_init() else {
            throw DeliveryError(code: .temporary, message: "libcurl could not create a handle (out of memory?)")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))

        let statePointer = Unmanaged.passUnretained(state).toOpaque()
        try check(encours_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), "CURLOPT_ERRORBUFFER")
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_TCP_KEEPALIVE, 1)

        try check(encours_curl_setopt_read_callback(handle) { buffer, size, count, userData in
            guard let buffer, let userData else { return Int(CURL_READFUNC_ABORT) }
            let state = Unmanaged<CurlTransferState>.fromOpaque(userData).takeUnretainedValue()
            let length = min(size * count, state.upload.count - state.uploadOffset)
            if length > 0 {
                state.upload.withUnsafeBytes { bytes in
                    UnsafeMutableRawPointer(buffer).copyMemory(
                        from: bytes.baseAddress! + state.uploadOffset, byteCount: length)
                }
                state.uploadOffset += length
            }
            return length
        }, "CURLOPT_READFUNCTION")
        try check(encours_curl_setopt_pointer(handle, CURLOPT_READDATA, statePointer), "CURLOPT_READDATA")

        try check(encours_curl_setopt_write_callback(handle) { data, size, count, userData in
            let length = size * count
            guard let data, let userData else { return length }
            let state = Unmanaged<CurlTransferState>.fromOpaque(userData).takeUnretainedValue()
            let kept = min(length, state.responseLimit - state.response.count)
            if kept > 0 {
                UnsafeRawBufferPointer(start: data, count: kept).withMemoryRebound(to: UInt8.self) {
                    state.response.append(contentsOf: $0)
                }
            }
            return length
        }, "CURLOPT_WRITEFUNCTION")
        try check(encours_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, statePointer), "CURLOPT_WRITEDATA")

        try set(CURLOPT_NOPROGRESS, 0)
        try check(encours_curl_setopt_progress_callback(handle) { userData, _, _, _, _ in
            guard let userData else { return 0 }
            let state = Unmanaged<CurlTransferState>.fromOpaque(userData).takeUnretainedValue()
            return state.cancellation.isCancelled ? 1 : 0
        }, "CURLOPT_XFERINFOFUNCTION")
        try check(encours_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, statePointer), "CURLOPT_XFERINFODATA")

        if recordServerLines {
            // Only the server's lines (CURLINFO_HEADER_IN) are kept: the client's lines, which
            // carry the AUTH exchange, are never looked at.
            try check(encours_curl_setopt_debug_callback(handle) { _, type, data, size, userData in
                guard type == CURLINFO_HEADER_IN, let data, let userData else { return 0 }
                let state = Unmanaged<CurlTransferState>.fromOpaque(userData).takeUnretainedValue()
                let bytes = UnsafeRawBufferPointer(start: data, count: min(size, 512))
                let line = String(decoding: bytes, as: UTF8.self)
                    .filter { !$0.isNewline && $0 != "\0" }
                    .trimmingSpaces()
                if !line.isEmpty {
                    if state.serverLines.count == 16 { state.serverLines.removeFirst() }
                    state.serverLines.append(line)
                }
                return 0
            }, "CURLOPT_DEBUGFUNCTION")
            try check(encours_curl_setopt_pointer(handle, CURLOPT_DEBUGDATA, statePointer), "CURLOPT_DEBUGDATA")
            try set(CURLOPT_VERBOSE, 1)
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sets an option taking a number or flag.
    func set(_ option: CURLoption, _ value: Int) throws(DeliveryError) {
        try check(encours_curl_setopt_long(handle, option, value), option)
    }

    /// Sets an option taking a string (copied by libcurl); nil restores the default.
    func set(_ option: CURLoption, _ value: String?) throws(DeliveryError) {
        let result: CURLcode
        if let value {
            result = value.withCString { encours_curl_setopt_string(handle, option, $0) }
        } else {
            result = encours_curl_setopt_string(handle, option, nil)
        }
        try check(result, option)
    }

    /// Sets an option taking a string list, kept alive by the handle until replaced; nil clears it.
    func set(_ option: CURLoption, list: [String]?) throws(DeliveryError) {
        let strings = list.map(CurlStringList.init)
        try check(encours_curl_setopt_slist(handle, option, strings?.head), option)
        lists[Int32(bitPattern: option.rawValue)] = strings
    }

    /// Sets the body of the next POST (copied by libcurl).
    func setPostBody(_ body: [UInt8]) throws(DeliveryError) {
        try check(encours_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "CURLOPT_POSTFIELDSIZE_LARGE")
        let result = body.withUnsafeBytes { bytes -> CURLcode in
            let empty: StaticString = ""
            let pointer = bytes.baseAddress ?? UnsafeRawPointer(empty.utf8Start)
            return encours_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: pointer))
        }
        try check(result, "CURLOPT_COPYPOSTFIELDS")
    }

    /// Runs one transfer with `upload` as the bytes to send, blocking the calling thread.
    ///
    /// When the transfer is already cancelled (``CurlTransferState/cancellation``), nothing is
    /// sent: the outcome is `CURLE_ABORTED_BY_CALLBACK`, as for a transfer aborted midway.
    func perform(upload: [UInt8] = []) -> CurlTransferOutcome {
        state.reset(upload: upload)
        errorBuffer[0] = 0
        let result = state.cancellation.isCancelled ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(handle)
        var responseCode = 0
        _ = encours_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &responseCode)
        var connects = 0
        _ = encours_curl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
        var errorText = String(cString: errorBuffer).trimmingSpaces()
        if errorText.isEmpty { errorText = CurlLibrary.describe(result) }
        let outcome = CurlTransferOutcome(
            result: result, responseCode: responseCode, reusedConnection: connects == 0,
            errorText: errorText, serverLines: state.serverLines, responseBody: state.response)
        state.upload = []
        return outcome
    }

    private func check(_ result: CURLcode, _ option: CURLoption) throws(DeliveryError) {
        try check(result, "option \(option.rawValue)")
    }

    private func check(_ result: CURLcode, _ what: String) throws(DeliveryError) {
        guard result != CURLE_OK else { return }
        throw DeliveryError(
            code: .permanent,
            message: "libcurl refused \(what): \(CurlLibrary.describe(result))",
            curlCode: Int(result.rawValue))
    }
}

/// A `curl_slist`, freed when released.
final class CurlStringList {
    private(set) var head: UnsafeMutablePointer<curl_slist>?

    init(_ strings: [String]) {
        for string in strings {
            head = string.withCString { curl_slist_append(head, $0) } ?? head
        }
    }

    deinit { curl_slist_free_all(head) }
}

/// How the transports classify a libcurl failure that came with no SMTP reply or HTTP status.
enum CurlFailure {
    /// The class of a failed transfer's result code.
    static func code(_ result: CURLcode) -> DeliveryError.Code {
        switch result {
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_LOGIN_DENIED, CURLE_USE_SSL_FAILED,
            CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND, CURLE_NOT_BUILT_IN, CURLE_UNKNOWN_OPTION,
            CURLE_REMOTE_ACCESS_DENIED, CURLE_AUTH_ERROR:
            // The configuration cannot work as it is: retrying the same thing fails the same way.
            .permanent
        default:
            // Refused or timed-out connections, broken connections, TLS handshakes that failed
            // midway, unreadable replies, out of memory: all may pass.
            .temporary
        }
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and line breaks.
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0.isNewline }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
