import Crypto
import Foundation

/// An email address with an optional display name, as in `Cabinet Dupont <compta@dupont.fr>`.
///
/// Only ASCII addresses in dot-atom form are accepted (`local@domain`, no quoted local part,
/// no SMTPUTF8): an internationalised domain must be given in its `xn--` form. The display name
/// may be any text without line breaks; it is encoded as needed.
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    /// The bare address, `local@domain`.
    public var address: String
    /// The name shown by mail readers, if any.
    public var displayName: String?

    public init(_ address: String, displayName: String? = nil) {
        self.address = address
        self.displayName = displayName
    }

    /// `Name <address>`, or the bare address; for logs, not for headers.
    public var description: String {
        guard let displayName, !displayName.isEmpty else { return address }
        return "\(displayName) <\(address)>"
    }
}

/// A header added to a message or a webhook request: a name and a one-line value.
public struct MessageHeader: Sendable, Hashable {
    /// The field name, such as `Auto-Submitted` or `X-Tenant`.
    public var name: String
    /// The value, on one line (a CR or LF is refused when the message is rendered).
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// An email to send: sender, recipients, subject, a plain text body and an optional HTML body.
///
/// ``mime()`` renders it as RFC 5322 bytes; the same message always renders the same bytes.
/// Every header value is checked, so no header can be injected through an address, a name,
/// the subject or an extra header.
public struct EmailMessage: Sendable {
    /// The sender, used for the `From` header and the SMTP envelope (`MAIL FROM`).
    public var from: EmailAddress
    /// The recipients, used for the `To` header and the SMTP envelope (`RCPT TO`); at least one.
    public var to: [EmailAddress]
    /// Where replies go, when not to the sender.
    public var replyTo: EmailAddress?
    /// The subject, any text on one line.
    public var subject: String
    /// The plain text body.
    public var textBody: String
    /// The HTML body; when present the message is `multipart/alternative` with both parts.
    public var htmlBody: String?
    /// The `Message-ID`, chosen by the caller so that a retry sends the same one,
    /// e.g. `<reminder-42.tenant-7@encours>` (the angle brackets are optional).
    public var messageID: String
    /// The `Date` header (written in UTC).
    public var date: Date
    /// Headers added after the standard ones, e.g. `Auto-Submitted: auto-generated`.
    public var headers: [MessageHeader]

    public init(
        from: EmailAddress, to: [EmailAddress], replyTo: EmailAddress? = nil, subject: String,
        textBody: String, htmlBody: String? = nil, messageID: String, date: Date = Date(),
        headers: [MessageHeader] = []
    ) {
        self.from = from
        self.to = to
        self.replyTo = replyTo
        self.subject = subject
        self.textBody = textBody
        self.htmlBody = htmlBody
        self.messageID = messageID
        self.date = date
        self.headers = headers
    }

    /// The message as RFC 5322 bytes: CRLF line endings, no line longer than 78 characters except
    /// an unbreakable header word (never more than 998), bodies in quoted-printable UTF-8.
    ///
    /// Throws ``DeliveryError/Code/invalidMessage`` for a malformed address or Message-ID, a CR,
    /// LF or other control character in a header value, no recipient, or an extra header that
    /// would replace a standard one.
    public func mime() throws(DeliveryError) -> [UInt8] {
        guard !to.isEmpty else { throw MIME.invalid("the message has no recipient") }
        var text = ""
        text += MIME.headerLine("Date", [MIME.date(date)])
        text += MIME.headerLine("From", try MIME.mailbox(from, last: true))
        var recipients: [String] = []
        for (index, recipient) in to.enumerated() {
            recipients += try MIME.mailbox(recipient, last: index == to.count - 1)
        }
        text += MIME.headerLine("To", recipients)
        if let replyTo { text += MIME.headerLine("Reply-To", try MIME.mailbox(replyTo, last: true)) }
        text += MIME.headerLine("Subject", try MIME.unstructured(subject, field: "Subject"))
        let identifier = try MIME.messageID(messageID)
        text += MIME.headerLine("Message-ID", [identifier])
        text += MIME.headerLine("MIME-Version", ["1.0"])
        for header in headers {
            try MIME.checkExtraHeaderName(header.name)
            text += MIME.headerLine(header.name, try MIME.unstructured(header.value, field: header.name))
        }
        let plain = MIME.quotedPrintable(textBody)
        if let htmlBody {
            let boundary = MIME.boundary(messageID: identifier)
            text += MIME.headerLine("Content-Type", ["multipart/alternative;", "boundary=\"\(boundary)\""])
            text += "\r\n"
            text += "This is a multipart message in MIME format.\r\n"
            text += "\r\n--\(boundary)\r\n"
            text += "Content-Type: text/plain; charset=utf-8\r\n"
            text += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            text += plain
            text += "\r\n--\(boundary)\r\n"
            text += "Content-Type: text/html; charset=utf-8\r\n"
            text += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            text += MIME.quotedPrintable(htmlBody)
            text += "\r\n--\(boundary)--\r\n"
        } else {
            text += "Content-Type: text/plain; charset=utf-8\r\n"
            text += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            text += plain
        }
        return Array(text.utf8)
    }
}

/// The pieces of RFC 5322 / RFC 2045-2047 rendering used by ``EmailMessage/mime()``.
enum MIME {
    /// Lines are folded before this length.
    static let foldingWidth = 76
    /// Bytes of UTF-8 text per encoded word: 30 bytes make 40 base64 characters, 52 in all.
    static let encodedWordBytes = 30

    static func invalid(_ message: String) -> DeliveryError {
        DeliveryError(code: .invalidMessage, message: message)
    }

    /// One header field, its words joined by spaces and folded (CRLF + space) when a line would
    /// grow past ``foldingWidth``.
    static func headerLine(_ name: String, _ words: [String]) -> String {
        var result = name + ":"
        var lineLength = result.utf8.count
        for word in words {
            let length = word.utf8.count
            if lineLength + 1 + length > foldingWidth, !word.isEmpty, lineLength > name.utf8.count + 1 {
                result += "\r\n " + word
                lineLength = 1 + length
            } else {
                result += " " + word
                lineLength += 1 + length
            }
        }
        return result + "\r\n"
    }

    /// The words of an unstructured value (subject, extra header): kept as they are when printable
    /// ASCII, else RFC 2047 encoded words (`=?UTF-8?B?...?=`).
    static func unstructured(_ value: String, field: String) throws(DeliveryError) -> [String] {
        try checkHeaderText(value, field: field)
        let words = value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let plain = value.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
            && words.allSatisfy { $0.utf8.count <= 900 && !$0.hasPrefix("=?") }
        return plain ? words : encodedWords(value)
    }

    /// Refuses line breaks and control characters in a header value, so no header can be injected.
    static func checkHeaderText(_ value: String, field: String) throws(DeliveryError) {
        if value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
            throw invalid("\(field) contains a CR or LF, refused (header injection)")
        }
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value) || $0 == "\u{2028}" || $0 == "\u{2029}" }) {
            throw invalid("\(field) contains a control character")
        }
    }

    /// The text as RFC 2047 encoded words of whole characters, each at most 52 characters long.
    static func encodedWords(_ value: String) -> [String] {
        var words: [String] = []
        var chunk: [UInt8] = []
        func flush() {
            guard !chunk.isEmpty else { return }
            words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
            chunk.removeAll()
        }
        for character in value {
            let bytes = Array(String(character).utf8)
            if bytes.count > encodedWordBytes {
                // A very long grapheme cluster: split it between its scalars instead.
                flush()
                for scalar in character.unicodeScalars {
                    let scalarBytes = Array(String(scalar).utf8)
                    if chunk.count + scalarBytes.count > encodedWordBytes { flush() }
                    chunk += scalarBytes
                }
                continue
            }
            if chunk.count + bytes.count > encodedWordBytes { flush() }
            chunk += bytes
        }
        flush()
        return words
    }

    /// An address checked for the dot-atom form `local@domain`.
    static func address(_ address: String) throws(DeliveryError) -> String {
        if address.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
            throw invalid("email address contains a CR or LF, refused (header injection)")
        }
        guard let at = address.lastIndex(of: "@") else {
            throw invalid("malformed email address \(quoted(address)): no @")
        }
        let local = address[..<at]
        let domain = address[address.index(after: at)...]
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~".utf8)
        let localValid = !local.isEmpty && local.utf8.count <= 64 && local.first != "." && local.last != "."
            && !local.contains("..") && local.utf8.allSatisfy { atext.contains($0) || $0 == UInt8(ascii: ".") }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        let domainValid = !domain.isEmpty && domain.utf8.count <= 253 && labels.count >= 1
            && labels.allSatisfy { label in
                !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                    && label.utf8.allSatisfy { byte in
                        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == UInt8(ascii: "-")
                    }
            }
        guard localValid, domainValid else {
            throw invalid("malformed email address \(quoted(address))")
        }
        return address
    }

    /// The words of a mailbox: `Name <address>` (the name quoted or encoded as needed), with a
    /// comma after it unless it is the last of a list.
    static func mailbox(_ mailbox: EmailAddress, last: Bool) throws(DeliveryError) -> [String] {
        let address = try address(mailbox.address)
        let separator = last ? "" : ","
        guard let name = mailbox.displayName, !name.isEmpty else { return [address + separator] }
        try checkHeaderText(name, field: "display name")
        let atom = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ ".utf8)
        var words: [String]
        if name.utf8.allSatisfy({ atom.contains($0) }) && !name.contains("=?") && name.utf8.count <= 900 {
            words = name.split(separator: " ").map(String.init)
            if words.isEmpty { words = ["\"\(name)\""] }
        } else if name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) && name.utf8.count <= 900 {
            let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            words = ["\"\(escaped)\""]
        } else {
            words = encodedWords(name)
        }
        return words + ["<\(address)>" + separator]
    }

    /// A Message-ID in angle brackets, checked: printable ASCII, no spaces, an @.
    static func messageID(_ value: String) throws(DeliveryError) -> String {
        if value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
            throw invalid("Message-ID contains a CR or LF, refused (header injection)")
        }
        var inner = Substring(value)
        if inner.hasPrefix("<") && inner.hasSuffix(">") && inner.count >= 2 {
            inner = inner.dropFirst().dropLast()
        }
        guard !inner.isEmpty, inner.utf8.count <= 900, inner.contains("@"),
            inner.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") })
        else {
            throw invalid("malformed Message-ID \(quoted(value)): expected <unique@domain>")
        }
        return "<\(inner)>"
    }

    /// Header names that the renderer writes itself and an extra header may not replace.
    static let reservedHeaders: Set<String> = [
        "date", "from", "sender", "to", "cc", "bcc", "reply-to", "subject", "message-id", "mime-version",
        "content-type", "content-transfer-encoding",
    ]

    /// Refuses an extra header name that is not an RFC 5322 field name or that is reserved.
    static func checkExtraHeaderName(_ name: String) throws(DeliveryError) {
        guard !name.isEmpty, name.utf8.count <= 76,
            name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") })
        else {
            throw invalid("malformed header name \(quoted(name))")
        }
        if reservedHeaders.contains(name.lowercased()) {
            throw invalid("header \(name) is written by the renderer and cannot be given as an extra header")
        }
    }

    /// The multipart boundary, derived from the Message-ID. It starts with `=_`, which
    /// quoted-printable text can never contain, so it cannot occur in a part.
    static func boundary(messageID: String) -> String {
        let digest = SHA256.hash(data: Array(messageID.utf8))
        return "=_encours_" + hex(digest.prefix(12))
    }

    /// An RFC 5322 date in UTC, e.g. `Tue, 02 Jan 2024 15:04:05 +0000`.
    static func date(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Days since 1970-01-01 to a civil date (proleptic Gregorian calendar).
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday (index 4 from Sunday).
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekdays[weekday]), \(two(day)) \(months[month - 1]) \(year) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) +0000"
    }

    /// The text as quoted-printable UTF-8 (RFC 2045): line breaks of any kind become CRLF, lines
    /// are at most 76 characters (soft breaks), trailing spaces and a leading dot are encoded.
    static func quotedPrintable(_ text: String) -> String {
        var lines: [[UInt8]] = [[]]
        var previousWasCR = false
        for byte in text.utf8 {
            if byte == 0x0A {
                if !previousWasCR { lines.append([]) }
                previousWasCR = false
            } else if byte == 0x0D {
                lines.append([])
                previousWasCR = true
            } else {
                lines[lines.count - 1].append(byte)
                previousWasCR = false
            }
        }
        if lines.count > 1, lines[lines.count - 1].isEmpty { lines.removeLast() }

        let digits = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count * 11 / 10 + 16)
        for line in lines {
            var lineLength = 0
            for (index, byte) in line.enumerated() {
                let isLast = index == line.count - 1
                let literal =
                    (byte >= 0x21 && byte <= 0x7E && byte != UInt8(ascii: "=") && !(index == 0 && byte == UInt8(ascii: ".")))
                    || ((byte == 0x20 || byte == 0x09) && !isLast)
                let width = literal ? 1 : 3
                // Keep room for the "=" of a soft line break: encoded lines stay within 76.
                if lineLength + width > (isLast ? 76 : 75) {
                    output += [UInt8(ascii: "="), 0x0D, 0x0A]
                    lineLength = 0
                }
                if literal {
                    output.append(byte)
                } else {
                    output += [UInt8(ascii: "="), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
                }
                lineLength += width
            }
            output += [0x0D, 0x0A]
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Lowercase hexadecimal of bytes.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A value in double quotes with its control characters escaped, for error messages.
    static func quoted(_ value: String) -> String {
        var result = "\""
        for scalar in value.unicodeScalars.prefix(200) {
            switch scalar {
            case "\r": result += "\\r"
            case "\n": result += "\\n"
            case "\"": result += "\\\""
            default: result += scalar.value < 0x20 ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
            }
        }
        return result + "\""
    }
}
