import EncoursDelivery
import EncoursTestSupport
import Foundation
import Testing

/// A message to `to`, numbered so that each has its own Message-ID.
func reminder(_ number: Int = 1, to: String = "client@example.com") -> EmailMessage {
    EmailMessage(
        from: EmailAddress("relances@encours.test", displayName: "Cabinet Martin"),
        to: [EmailAddress(to, displayName: "Société Dupont")],
        subject: "Relance n°2 — 1 234,56 €",
        textBody: frenchText,
        htmlBody: frenchHTML,
        messageID: "<reminder-\(number).tenant-7@encours>",
        date: Date(timeIntervalSince1970: 1_704_207_845))
}

/// A transport to the sink at `port`, plain SMTP unless `query` says otherwise.
func transport(port: Int, user: String = "", query: String = "starttls=never") throws -> SMTPTransport {
    SMTPTransport(configuration: try SMTPConfiguration(url: "smtp://\(user)127.0.0.1:\(port)/encours.test?timeout=10&\(query)"))
}

/// The text as Python's email package returns it: LF line breaks, ending with one.
func lf(_ text: String) -> String { text + "\n" }

@Suite struct SMTPTransportTests {
    @Test func aMessageArrivesWithItsMessageIDAndBothParts() async throws {
        try await TestServers.withSMTPSink { sink in
            let transport = try transport(port: sink.port)
            try await transport.send(reminder(42))
            let messages = try sink.messages()
            #expect(messages.count == 1)
            let message = try #require(messages.first)
            #expect(message.messageID == "<reminder-42.tenant-7@encours>")
            #expect(message.mailFrom == "<relances@encours.test>" || message.mailFrom == "relances@encours.test")
            #expect(message.recipients == ["client@example.com"])
            #expect(message.contentType == "multipart/alternative")
            #expect(message.subject == "Relance n°2 — 1 234,56 €")
            #expect(message.to == "Société Dupont <client@example.com>")
            #expect(message.text == lf(frenchText))
            #expect(message.html == lf(frenchHTML))
            #expect(message.defects.isEmpty)
            #expect(message.bareLineFeeds == 0)
            #expect(message.maxLineLength <= 78)
            #expect(!message.tls)
        }
    }

    @Test func fiftyMessagesUseOneConnection() async throws {
        try await TestServers.withSMTPSink { sink in
            let transport = try transport(port: sink.port)
            for number in 1...50 { try await transport.send(reminder(number)) }
            let messages = try sink.messages()
            #expect(messages.count == 50)
            #expect(messages.map(\.messageID) == (1...50).map { "<reminder-\($0).tenant-7@encours>" })
            #expect(sink.connectionCount() == 1)
        }
    }

    /// Callers share a transport: its actor is re-entered while a transfer waits, and the kept
    /// handle must still carry one message at a time (two at once lost messages and reported
    /// them sent before this was guarded).
    @Test func concurrentSendsOnOneTransportAllArrive() async throws {
        try await TestServers.withSMTPSink { sink in
            let transport = try transport(port: sink.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for number in 1...40 { group.addTask { try await transport.send(reminder(number)) } }
                try await group.waitForAll()
            }
            let messages = try sink.messages()
            #expect(messages.count == 40)
            #expect(Set(messages.compactMap(\.messageID)) == Set((1...40).map { "<reminder-\($0).tenant-7@encours>" }))
            #expect(sink.connectionCount() == 1)
        }
    }

    @Test func aClosedConnectionIsReopened() async throws {
        try await TestServers.withSMTPSink(SMTPSinkOptions(closeAfterMessage: true)) { sink in
            let transport = try transport(port: sink.port)
            for number in 1...5 { try await transport.send(reminder(number)) }
            #expect(try sink.messages().count == 5)
            #expect(sink.connectionCount() == 5)
        }
    }

    @Test func closeOpensANewConnectionOnTheNextMessage() async throws {
        try await TestServers.withSMTPSink { sink in
            let transport = try transport(port: sink.port)
            try await transport.send(reminder(1))
            await transport.close()
            try await transport.send(reminder(2))
            #expect(try sink.messages().count == 2)
            #expect(sink.connectionCount() == 2)
        }
    }

    @Test func aRefusedRecipientIsPermanent() async throws {
        try await TestServers.withSMTPSink(SMTPSinkOptions(refusedRecipients: ["gone@example.com"])) { sink in
            let transport = try transport(port: sink.port)
            let error = await #expect(throws: DeliveryError.self) { try await transport.send(reminder(to: "gone@example.com")) }
            #expect(error?.code == .permanent)
            #expect(error?.responseCode == 550)
            #expect(error?.message.hasPrefix("SMTP 550 5.1.1 <gone@example.com>: recipient refused") == true)
            // The refusal does not spoil the transport for the next message.
            try await transport.send(reminder(2))
            #expect(try sink.messages().map(\.recipients) == [["client@example.com"]])
        }
    }

    @Test func nothingListeningIsTemporary() async throws {
        let port = try await TestServers.closedPort()
        let transport = try transport(port: port)
        let error = await #expect(throws: DeliveryError.self) { try await transport.send(reminder()) }
        #expect(error?.code == .temporary)
        #expect(error?.isRetryable == true)
        #expect(error?.responseCode == nil)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
    }

    @Test func aTemporaryRefusalIsTemporaryAndTheRetrySucceeds() async throws {
        try await TestServers.withSMTPSink(SMTPSinkOptions(failFirst: 1)) { sink in
            let transport = try transport(port: sink.port)
            let error = await #expect(throws: DeliveryError.self) { try await transport.send(reminder(7)) }
            #expect(error?.code == .temporary)
            #expect(error?.responseCode == 451)
            #expect(error?.message.hasPrefix("SMTP 451 4.3.0") == true)
            try await transport.send(reminder(7))
            #expect(try sink.messages().map(\.messageID) == ["<reminder-7.tenant-7@encours>"])
        }
    }

    @Test func authenticationWithTheRightPasswordDelivers() async throws {
        try await TestServers.withSMTPSink(SMTPSinkOptions(user: "mailer", password: "p@ss:word")) { sink in
            let transport = try transport(port: sink.port, user: "mailer:p%40ss%3Aword@")
            try await transport.send(reminder())
            #expect(try sink.messages().map(\.login) == ["mailer"])
        }
    }

    @Test func authenticationWithAWrongPasswordIsPermanent() async throws {
        try await TestServers.withSMTPSink(SMTPSinkOptions(user: "mailer", password: "right")) { sink in
            let transport = try transport(port: sink.port, user: "mailer:wrong-secret@")
            let error = await #expect(throws: DeliveryError.self) { try await transport.send(reminder()) }
            #expect(error?.code == .permanent)
            #expect(error?.responseCode == 535)
            #expect(error?.message.hasPrefix("SMTP 535") == true)
            #expect(error?.message.contains("wrong-secret") == false)
            #expect(try sink.messages().isEmpty)
        }
    }

    @Test func requiredSTARTTLSDeliversWithASelfSignedCertificate() async throws {
        try await TestServers.withTemporaryDirectory { directory in
            let certificate = try await TestServers.makeSelfSignedCertificate(in: directory)
            try await TestServers.withSMTPSink(SMTPSinkOptions(startTLS: certificate)) { sink in
                let insecure = try transport(port: sink.port, query: "starttls=required&insecure=1")
                try await insecure.send(reminder(1))
                let verified = try transport(
                    port: sink.port, query: "starttls=required&cacert=\(certificate.certificate)")
                try await verified.send(reminder(2))
                let untrusted = try transport(port: sink.port, query: "starttls=required")
                let error = await #expect(throws: DeliveryError.self) { try await untrusted.send(reminder(3)) }
                #expect(error?.code == .permanent)
                let messages = try sink.messages()
                #expect(messages.map(\.messageID) == ["<reminder-1.tenant-7@encours>", "<reminder-2.tenant-7@encours>"])
                #expect(messages.map(\.tls) == [true, true])
            }
        }
    }

    @Test func requiredSTARTTLSRefusesAServerWithoutIt() async throws {
        try await TestServers.withSMTPSink { sink in
            let transport = try transport(port: sink.port, query: "starttls=required")
            let error = await #expect(throws: DeliveryError.self) { try await transport.send(reminder()) }
            #expect(error?.code == .permanent)
            #expect(try sink.messages().isEmpty)
        }
    }

    @Test func anInvalidMessageIsRefusedBeforeConnecting() async throws {
        try await TestServers.withSMTPSink { sink in
            let transport = try transport(port: sink.port)
            var message = reminder()
            message.subject = "Relance\r\nBcc: victim@example.com"
            let error = await #expect(throws: DeliveryError.self) { try await transport.send(message) }
            #expect(error?.code == .invalidMessage)
            #expect(sink.connectionCount() == 0)
        }
    }

    /// Sends queued for the transport's one connection that are cancelled while they wait
    /// (their job stopped) send nothing when their turn comes.
    @Test func sendsCancelledWhileWaitingForTheConnectionSendNothing() async throws {
        // The first message holds the one connection for 2 s: the others queue for it meanwhile.
        try await TestServers.withSMTPSink(SMTPSinkOptions(delayFirstMessage: .seconds(2))) { sink in
            let transport = try transport(port: sink.port)
            let count = 20
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for number in 1...count {
                    group.addTask {
                        do {
                            try await transport.send(reminder(number))
                            return true
                        } catch is CancellationError {
                            return false
                        }
                    }
                }
                // While the first message waits for its reply, the rest (queued) are cancelled.
                try await Task.sleep(for: .milliseconds(800))
                group.cancelAll()
                var sent = 0
                var cancelled = 0
                for try await succeeded in group { if succeeded { sent += 1 } else { cancelled += 1 } }
                return (sent, cancelled)
            }
            #expect(outcomes.0 + outcomes.1 == count)
            #expect(outcomes.1 >= count - 1, "\(outcomes.1) of \(count) sends cancelled")
            let received = try sink.messages().count
            #expect(received <= 1, "\(received) received; only the one in flight may arrive")
        }
    }

    @Test func aCancelledTaskThrowsCancellationError() async throws {
        try await TestServers.withSMTPSink { sink in
            let transport = try transport(port: sink.port)
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await transport.send(reminder())
            }
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(try sink.messages().isEmpty)
        }
    }
}
