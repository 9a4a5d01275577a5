/// Where and how to send email: an SMTP server, its TLS mode, credentials and timeout.
///
/// Parsed from a URL such as `ENCOURS_SMTP_URL`:
///
///     smtp://[user[:password]@]host[:port][/helo-domain][?starttls=required|optional|never][&insecure=1][&timeout=30][&cacert=/path.pem]
///     smtps://[user[:password]@]host[:port][/helo-domain][?insecure=1][&timeout=30][&cacert=/path.pem]
///
/// `smtps` is TLS from the first byte (port 465 by default); `smtp` is port 25 by default and
/// upgrades with STARTTLS: `required` (the default when credentials are given, so a password is
/// never sent in clear), `optional` (the default otherwise) or `never`. The user and password
/// are percent-decoded (`%40` for `@`, `%3A` for `:`). `insecure=1` skips certificate
/// verification (test servers with self-signed certificates only); `cacert` names a PEM file of
/// trusted authorities. `timeout` is in seconds (default 30), for connecting and for each message.
///
/// ``description`` and the reflection of a configuration never show the password.
public struct SMTPConfiguration: Sendable, CustomStringConvertible, CustomReflectable {
    /// How the connection is protected.
    public enum Security: String, Sendable {
        /// TLS from the start (`smtps://`).
        case implicitTLS = "smtps"
        /// STARTTLS, and refuse to go on without it (`starttls=required`).
        case startTLSRequired = "required"
        /// STARTTLS when the server offers it, else in clear (`starttls=optional`).
        case startTLSOptional = "optional"
        /// No TLS at all (`starttls=never`).
        case plain = "never"
    }

    /// The server's host name or IP address (an IPv6 address without brackets).
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// How the connection is protected.
    public var security: Security
    /// The user name for SMTP AUTH, if any.
    public var user: String?
    /// The password for SMTP AUTH, if any; never shown.
    public var password: String?
    /// The longest wait for a connection, and for one message's whole exchange.
    public var timeout: Duration
    /// Skip verification of the server's certificate (self-signed test servers only).
    public var insecure: Bool
    /// A PEM file of the certificate authorities to trust instead of the system's.
    public var certificateAuthorityFile: String?
    /// The domain given in EHLO; libcurl uses the machine's host name when nil.
    public var heloDomain: String?

    public init(
        host: String, port: Int? = nil, security: Security = .startTLSRequired, user: String? = nil,
        password: String? = nil, timeout: Duration = .seconds(30), insecure: Bool = false,
        certificateAuthorityFile: String? = nil, heloDomain: String? = nil
    ) {
        self.host = host
        self.port = port ?? (security == .implicitTLS ? 465 : 25)
        self.security = security
        self.user = user
        self.password = password
        self.timeout = timeout
        self.insecure = insecure
        self.certificateAuthorityFile = certificateAuthorityFile
        self.heloDomain = heloDomain
    }

    /// Parses an `smtp://` or `smtps://` URL (see the type's documentation).
    ///
    /// Throws ``DeliveryError/Code/permanent`` for a malformed URL; the message never repeats the password.
    public init(url: String) throws(DeliveryError) {
        func malformed(_ reason: String) -> DeliveryError {
            DeliveryError(code: .permanent, message: "malformed SMTP URL: \(reason)")
        }
        guard let schemeEnd = url.range(of: "://") else { throw malformed("expected smtp://host or smtps://host") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "smtp" || scheme == "smtps" else {
            throw malformed("scheme \(MIME.quoted(scheme)) is not smtp or smtps")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        guard !rest.contains("#") else { throw malformed("a fragment (#) is not allowed") }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInformation = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let rawUser: Substring
            if let colon = userInformation.firstIndex(of: ":") {
                rawUser = userInformation[..<colon]
                guard let decoded = percentDecoded(userInformation[userInformation.index(after: colon)...]) else {
                    throw malformed("the password has an invalid percent-encoding")
                }
                password = decoded
            } else {
                rawUser = userInformation
            }
            guard let decodedUser = percentDecoded(rawUser), !decodedUser.isEmpty,
                !decodedUser.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else {
                throw malformed("the user name is empty or badly encoded")
            }
            user = decodedUser
            if let password, password.unicodeScalars.contains(where: { $0.value == 0 }) {
                throw malformed("the password contains a NUL character")
            }
        }
        var host: String
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw malformed("unclosed [ in the host") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw malformed("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw malformed("invalid IPv6 address")
            }
        } else {
            if let colon = rest.firstIndex(of: ":") {
                host = String(rest[..<colon])
                portText = rest[rest.index(after: colon)...]
            } else {
                host = String(rest)
            }
            guard !host.isEmpty,
                host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") })
            else {
                throw malformed("invalid or missing host")
            }
        }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else {
                throw malformed("invalid port \(MIME.quoted(String(portText)))")
            }
            port = value
        }
        var heloDomain: String?
        if !path.isEmpty {
            guard path.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else {
                throw malformed("invalid EHLO domain \(MIME.quoted(String(path)))")
            }
            heloDomain = String(path)
        }

        var security: Security =
            scheme == "smtps" ? .implicitTLS : (user != nil ? .startTLSRequired : .startTLSOptional)
        var timeout = Duration.seconds(30)
        var insecure = false
        var certificateAuthorityFile: String?
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).lowercased()
            guard let value = percentDecoded(parts.count > 1 ? parts[1] : "") else {
                throw malformed("the value of \(key) has an invalid percent-encoding")
            }
            switch key {
            case "starttls":
                guard scheme == "smtp" else { throw malformed("starttls does not apply to smtps (TLS from the start)") }
                switch value.lowercased() {
                case "required": security = .startTLSRequired
                case "optional": security = .startTLSOptional
                case "never": security = .plain
                default: throw malformed("starttls must be required, optional or never, not \(MIME.quoted(value))")
                }
            case "insecure":
                switch value.lowercased() {
                case "", "1", "true", "yes": insecure = true
                case "0", "false", "no": insecure = false
                default: throw malformed("insecure must be 1 or 0, not \(MIME.quoted(value))")
                }
            case "timeout":
                guard let seconds = Double(value), seconds > 0, seconds <= 3600 else {
                    throw malformed("timeout must be a number of seconds between 0 and 3600, not \(MIME.quoted(value))")
                }
                timeout = .milliseconds(Int((seconds * 1000).rounded()))
            case "cacert":
                guard !value.isEmpty else { throw malformed("cacert must name a file") }
                certificateAuthorityFile = value
            default:
                throw malformed("unknown parameter \(MIME.quoted(key)) (expected starttls, insecure, timeout or cacert)")
            }
        }
        self.init(
            host: host, port: port, security: security, user: user, password: password, timeout: timeout,
            insecure: insecure, certificateAuthorityFile: certificateAuthorityFile, heloDomain: heloDomain)
    }

    /// The URL without the password, e.g. `smtp://mailer:***@smtp.example.com:587?starttls=required`.
    public var description: String {
        var text = security == .implicitTLS ? "smtps://" : "smtp://"
        if let user {
            text += percentEncoded(user) + (password != nil ? ":***" : "") + "@"
        }
        text += hostAndPort
        if let heloDomain { text += "/" + heloDomain }
        var parameters: [String] = []
        if security != .implicitTLS { parameters.append("starttls=\(security.rawValue)") }
        if insecure { parameters.append("insecure=1") }
        if timeout != .seconds(30) { parameters.append("timeout=\(Double(timeout.milliseconds) / 1000)") }
        if let certificateAuthorityFile { parameters.append("cacert=\(percentEncoded(certificateAuthorityFile))") }
        if !parameters.isEmpty { text += "?" + parameters.joined(separator: "&") }
        return text
    }

    /// Reflection (`dump`, debuggers) without the password.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "security": security, "user": user as Any,
                "password": password == nil ? "nil" : "***", "timeout": timeout, "insecure": insecure,
                "certificateAuthorityFile": certificateAuthorityFile as Any, "heloDomain": heloDomain as Any,
            ], displayStyle: .struct)
    }

    /// `host:port`, with brackets around an IPv6 address.
    var hostAndPort: String {
        (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }

    /// The URL given to libcurl: no credentials (they go through CURLOPT_USERNAME/PASSWORD).
    var curlURL: String {
        (security == .implicitTLS ? "smtps://" : "smtp://") + hostAndPort + "/" + (heloDomain ?? "")
    }
}

extension Duration {
    /// The duration in whole milliseconds, at least 1.
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}

/// The text with its `%XX` escapes decoded, or nil when an escape is invalid or the result is not UTF-8.
func percentDecoded(_ text: Substring) -> String? {
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8).makeIterator()
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "%") {
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        } else {
            bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// The text with everything but unreserved URL characters percent-encoded.
func percentEncoded(_ text: String) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    var output: [UInt8] = []
    for byte in text.utf8 {
        let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
            || byte == UInt8(ascii: "/")
        if unreserved {
            output.append(byte)
        } else {
            output += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
        }
    }
    return String(decoding: output, as: UTF8.self)
}
