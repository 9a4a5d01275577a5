import EncoursDelivery
import Foundation
import Testing

/// A rendered message split back into headers and parts, decoded independently of the renderer.
struct ParsedMessage {
    var headers: [(name: String, value: String)]
    var body: String

    init(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let split = text.range(of: "\r\n\r\n")!
        let unfolded = text[..<split.lowerBound].replacingOccurrences(of: "\r\n ", with: " ")
        headers = unfolded.components(separatedBy: "\r\n").map { line in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        body = String(text[split.upperBound...])
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The parts of a multipart body: (content type, decoded text).
    func parts() -> [(contentType: String, text: String)] {
        let contentType = header("Content-Type")!
        let boundary = contentType.components(separatedBy: "boundary=\"")[1].dropLast()
        let pieces = body.components(separatedBy: "--\(boundary)")
        return pieces.dropFirst().dropLast().map { piece in
            // The CRLF before "--boundary" belongs to the delimiter, not to the part.
            let part = ParsedMessage(Array(piece.utf8.dropFirst(2).dropLast(2)))
            return (part.header("Content-Type")!, decodeQuotedPrintable(part.body))
        }
    }
}

/// Quoted-printable decoding (RFC 2045), written for the tests.
func decodeQuotedPrintable(_ text: String) -> String {
    var bytes: [UInt8] = []
    let input = Array(text.utf8)
    var index = 0
    while index < input.count {
        let byte = input[index]
        if byte == UInt8(ascii: "=") {
            if index + 2 < input.count, input[index + 1] == 0x0D, input[index + 2] == 0x0A {
                index += 3
                continue
            }
            bytes.append(UInt8(String(decoding: input[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)!)
            index += 3
        } else {
            bytes.append(byte)
            index += 1
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// RFC 2047 B encoded-word decoding, written for the tests.
func decodeEncodedWords(_ value: String) -> String {
    guard value.contains("=?") else { return value }
    let words = value.split(separator: " ")
    var bytes: [UInt8] = []
    for word in words {
        #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
        #expect(word.count <= 75)
        let encoded = word.dropFirst(10).dropLast(2)
        bytes += Data(base64Encoded: String(encoded))!
    }
    return String(decoding: bytes, as: UTF8.self)
}

let frenchText = [
    "Bonjour Madame Dupont,",
    "",
    "Relance n°2 — 1 234,56 € restent dus sur la facture F-2024-0042 (échéance dépassée de 45 jours). "
        + "Cette ligne est volontairement très longue pour vérifier le découpage des lignes en quoted-printable à 76 caractères.",
    ".Une ligne commençant par un point, un signe = égal, et des espaces en fin de ligne.   ",
    "\tTabulation en tête.",
    "Cordialement,",
].joined(separator: "\n")

let frenchHTML = "<html><body><p>Relance n°2 — <strong>1 234,56 €</strong></p>\n<p>" + String(repeating: "é", count: 300) + "</p></body></html>"

func sampleMessage(
    subject: String = "Relance n°2 — 1 234,56 €", to: [EmailAddress] = [EmailAddress("client@example.com", displayName: "Société Dupont, SARL")]
) -> EmailMessage {
    EmailMessage(
        from: EmailAddress("relances@encours.test", displayName: "Cabinet Martin"),
        to: to,
        subject: subject,
        textBody: frenchText,
        htmlBody: frenchHTML,
        messageID: "<reminder-42.tenant-7@encours>",
        date: Date(timeIntervalSince1970: 1_704_207_845),  // 2024-01-02T15:04:05Z
        headers: [MessageHeader("Auto-Submitted", "auto-generated")])
}

/// The text as the renderer's line breaks make it: CRLF, ending with one.
func crlf(_ text: String) -> String {
    text.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"
}

@Suite struct MIMETests {
    @Test func multipartHasBothPartsThatDecodeToTheOriginalTexts() throws {
        let message = ParsedMessage(try sampleMessage().mime())
        #expect(message.header("MIME-Version") == "1.0")
        #expect(message.header("Content-Type")?.hasPrefix("multipart/alternative;") == true)
        let parts = message.parts()
        #expect(parts.count == 2)
        #expect(parts.first?.contentType == "text/plain; charset=utf-8")
        #expect(parts.last?.contentType == "text/html; charset=utf-8")
        #expect(parts.first?.text == crlf(frenchText))
        #expect(parts.last?.text == crlf(frenchHTML))
    }

    @Test func headersAreWrittenAndTheSubjectIsEncoded() throws {
        let bytes = try sampleMessage().mime()
        let message = ParsedMessage(bytes)
        #expect(message.header("Date") == "Tue, 02 Jan 2024 15:04:05 +0000")
        #expect(message.header("Message-ID") == "<reminder-42.tenant-7@encours>")
        #expect(message.header("From") == "Cabinet Martin <relances@encours.test>")
        #expect(message.header("Auto-Submitted") == "auto-generated")
        let subject = try #require(message.header("Subject"))
        #expect(subject.hasPrefix("=?UTF-8?B?"))
        #expect(decodeEncodedWords(subject) == "Relance n°2 — 1 234,56 €")
        let to = try #require(message.header("To"))
        #expect(to.hasSuffix("<client@example.com>"))
        #expect(decodeEncodedWords(String(to.dropLast(" <client@example.com>".count))) == "Société Dupont, SARL")
    }

    @Test func asciiSubjectsAndNamesStayReadable() throws {
        let message = ParsedMessage(
            try sampleMessage(subject: "Reminder: invoice 42", to: [EmailAddress("a@example.com", displayName: "Dupont, SARL")]).mime())
        #expect(message.header("Subject") == "Reminder: invoice 42")
        #expect(message.header("To") == "\"Dupont, SARL\" <a@example.com>")
    }

    @Test func longSubjectsAndManyRecipientsAreFolded() throws {
        let subject = String(repeating: "Relance très importante ", count: 20)
        let recipients = (1...30).map { EmailAddress("client\($0)@example.com") }
        let message = ParsedMessage(try sampleMessage(subject: subject, to: recipients).mime())
        #expect(decodeEncodedWords(message.header("Subject")!) == subject)
        #expect(message.header("To") == recipients.map(\.address).joined(separator: ", "))
    }

    @Test func linesEndWithCRLFAndStayShort() throws {
        let bytes = try sampleMessage(subject: String(repeating: "x", count: 2000)).mime()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasSuffix("\r\n"))
        let lines = text.components(separatedBy: "\r\n")
        #expect(!lines.contains { $0.contains("\n") || $0.contains("\r") })
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
        let bodyStart = lines.firstIndex(of: "")!
        #expect(lines[bodyStart...].allSatisfy { $0.utf8.count <= 76 })
        #expect(lines[..<bodyStart].allSatisfy { $0.utf8.count <= 78 })
        #expect(bytes.allSatisfy { $0 < 0x80 })
    }

    @Test func theSameMessageRendersTheSameBytes() throws {
        #expect(try sampleMessage().mime() == sampleMessage().mime())
    }

    @Test func aTextOnlyMessageIsOnePlainPart() throws {
        var email = sampleMessage()
        email.htmlBody = nil
        let message = ParsedMessage(try email.mime())
        #expect(message.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(message.header("Content-Transfer-Encoding") == "quoted-printable")
        #expect(decodeQuotedPrintable(message.body) == crlf(frenchText))
    }

    @Test(arguments: [
        "Relance\r\nBcc: victim@example.com", "Relance\nBcc: victim@example.com", "Relance\rBcc: x@y.z",
    ])
    func lineBreaksInTheSubjectAreRefused(subject: String) {
        let error = #expect(throws: DeliveryError.self) { try sampleMessage(subject: subject).mime() }
        #expect(error?.code == .invalidMessage)
        #expect(error?.message.contains("CR or LF") == true)
    }

    @Test func headerInjectionIsRefusedEverywhere() {
        var messages: [EmailMessage] = []
        var message = sampleMessage()
        message.to = [EmailAddress("client@example.com\r\nBcc: victim@example.com")]
        messages.append(message)
        message = sampleMessage()
        message.to = [EmailAddress("client@example.com", displayName: "Dupont\nBcc: victim@example.com")]
        messages.append(message)
        message = sampleMessage()
        message.from = EmailAddress("relances@encours.test\n")
        messages.append(message)
        message = sampleMessage()
        message.messageID = "<x@y>\r\nBcc: victim@example.com"
        messages.append(message)
        message = sampleMessage()
        message.headers = [MessageHeader("X-Tenant", "7\r\nBcc: victim@example.com")]
        messages.append(message)
        message = sampleMessage()
        message.headers = [MessageHeader("X-Tenant\r\nBcc", "7")]
        messages.append(message)
        message = sampleMessage()
        message.headers = [MessageHeader("Subject", "another subject")]
        messages.append(message)
        message = sampleMessage()
        message.subject = "Relance\u{0}"
        messages.append(message)
        for message in messages {
            let error = #expect(throws: DeliveryError.self) { try message.mime() }
            #expect(error?.code == .invalidMessage)
        }
    }

    @Test(arguments: ["no-at-sign", "client@", "@example.com", "a b@example.com", "a@exa mple.com", "a@example..com", ".a@example.com", "a@-example.com", "a<b>@example.com", "a@b@c"])
    func malformedAddressesAreRefused(address: String) {
        var message = sampleMessage()
        message.to = [EmailAddress(address)]
        let error = #expect(throws: DeliveryError.self) { try message.mime() }
        #expect(error?.code == .invalidMessage)
    }

    @Test func aMessageWithoutRecipientIsRefused() {
        let error = #expect(throws: DeliveryError.self) { try sampleMessage(to: []).mime() }
        #expect(error?.code == .invalidMessage)
    }

    @Test func messageIDsGetAngleBrackets() throws {
        var message = sampleMessage()
        message.messageID = "reminder-1@encours"
        #expect(ParsedMessage(try message.mime()).header("Message-ID") == "<reminder-1@encours>")
        message.messageID = "no at sign"
        #expect(throws: DeliveryError.self) { try message.mime() }
    }

    @Test(arguments: [
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 +0000"),
        (0.0, "Thu, 01 Jan 1970 00:00:00 +0000"),
        (4_102_444_799.0, "Thu, 31 Dec 2099 23:59:59 +0000"),
    ])
    func datesAreWrittenInRFC5322Form(seconds: Double, expected: String) throws {
        var message = sampleMessage()
        message.date = Date(timeIntervalSince1970: seconds)
        #expect(ParsedMessage(try message.mime()).header("Date") == expected)
    }
}
