/// A failure to deliver an email, a webhook or a letter, classified by whether a retry can help.
///
/// Every error of this module is a `DeliveryError`; libcurl and system failures are converted
/// where they happen. The ``message`` is one line, names the server's reply when there was one
/// (for example `SMTP 550 5.1.1 <x@y>: recipient refused`) and never contains a password.
public struct DeliveryError: Error, CustomStringConvertible, Sendable {
    /// Whether the same delivery can succeed later.
    public enum Code: String, Sendable {
        /// Retry later: nothing listening, a timeout, a dropped connection, SMTP 4xx, HTTP 408,
        /// 429 or 5xx, a full disk.
        case temporary
        /// Do not retry as is: the server refused for good (SMTP 5xx such as 550 on RCPT or DATA,
        /// 535 credentials refused, HTTP 4xx other than 408 and 429, untrusted certificate), or
        /// the transport's configuration is unusable (malformed SMTP URL).
        case permanent
        /// The message, request or letter given cannot be sent as it is (a CR or LF in a header,
        /// a malformed address or URL, a bad file name); it was refused before any I/O.
        case invalidMessage = "invalid_message"
    }

    /// Whether a retry can help.
    public var code: Code
    /// What failed, on one line, with the server's reply or code when there was one.
    public var message: String
    /// The last SMTP reply code or HTTP status received, when there was one.
    public var responseCode: Int?
    /// The libcurl result code (`CURLcode`) of a failed transfer, when libcurl failed.
    public var curlCode: Int?

    public init(code: Code, message: String, responseCode: Int? = nil, curlCode: Int? = nil) {
        self.code = code
        self.message = message
        self.responseCode = responseCode
        self.curlCode = curlCode
    }

    /// True when the delivery should be tried again later (``Code/temporary``).
    public var isRetryable: Bool { code == .temporary }

    public var description: String { message }
}

extension DeliveryError.Code {
    /// The class of an SMTP reply code: 4xx is temporary, 5xx permanent; nil for others.
    static func smtp(_ replyCode: Int) -> DeliveryError.Code? {
        switch replyCode {
        case 400..<500: .temporary
        case 500..<600: .permanent
        default: nil
        }
    }

    /// The class of an HTTP status that is not a success: 408, 429 and 5xx are temporary, others permanent.
    static func http(_ status: Int) -> DeliveryError.Code {
        switch status {
        case 408, 429, 500..<600: .temporary
        default: .permanent
        }
    }
}
