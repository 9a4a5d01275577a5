import EncoursDelivery
import EncoursTestSupport
import Foundation
import Testing

let webhookBody = Array(#"{"event":"invoice.paid","amount":"1234.56"}"#.utf8)

@Suite struct WebhookSignatureTests {
    @Test func theSignatureMatchesAKnownHMAC() {
        // Computed with Python: hmac.new(b"whsec_test", b"1700000000." + body, hashlib.sha256).hexdigest()
        let header = WebhookSignature.sign(
            body: webhookBody, secret: "whsec_test", timestamp: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(header == "t=1700000000,v1=1f2e574a8d84d73ac1705e8cf325738f47fcd7b0536a2007daa5fc7523f2d7c8")
    }

    @Test func signAndVerifyRoundTrip() {
        let now = Date()
        let header = WebhookSignature.sign(body: webhookBody, secret: "whsec_test", timestamp: now)
        #expect(WebhookSignature.verify(header: header, body: webhookBody, secret: "whsec_test", now: now))
        #expect(WebhookSignature.verify(header: header, body: webhookBody, secret: "whsec_test", now: now + 299))
        // A rotated secret: either of two signatures may match.
        let other = WebhookSignature.sign(body: webhookBody, secret: "whsec_old", timestamp: now)
        let both = header + "," + other.split(separator: ",")[1]
        #expect(WebhookSignature.verify(header: both, body: webhookBody, secret: "whsec_old", now: now))
    }

    @Test func staleAndFutureTimestampsAreRejected() {
        let signed = Date(timeIntervalSince1970: 1_700_000_000)
        let header = WebhookSignature.sign(body: webhookBody, secret: "whsec_test", timestamp: signed)
        #expect(!WebhookSignature.verify(header: header, body: webhookBody, secret: "whsec_test", now: signed + 301))
        #expect(!WebhookSignature.verify(header: header, body: webhookBody, secret: "whsec_test", now: signed - 301))
        #expect(!WebhookSignature.verify(header: header, body: webhookBody, secret: "whsec_test"))
        #expect(
            WebhookSignature.verify(
                header: header, body: webhookBody, secret: "whsec_test", now: signed + 3600, tolerance: .seconds(3601)))
    }

    @Test func tamperingIsRejected() {
        let now = Date()
        let header = WebhookSignature.sign(body: webhookBody, secret: "whsec_test", timestamp: now)
        var tampered = webhookBody
        tampered[tampered.count - 3] = UInt8(ascii: "9")
        #expect(!WebhookSignature.verify(header: header, body: tampered, secret: "whsec_test", now: now))
        #expect(!WebhookSignature.verify(header: header, body: webhookBody, secret: "whsec_other", now: now))
        let seconds = Int(now.timeIntervalSince1970)
        let shifted = header.replacingOccurrences(of: "t=\(seconds)", with: "t=\(seconds + 1)")
        #expect(!WebhookSignature.verify(header: shifted, body: webhookBody, secret: "whsec_test", now: now))
        for malformed in ["", "t=1", "v1=00", "t=abc,v1=00", "garbage", "t=\(seconds),v1=zz"] {
            #expect(!WebhookSignature.verify(header: malformed, body: webhookBody, secret: "whsec_test", now: now))
        }
    }
}

@Suite struct WebhookTransportTests {
    @Test func aSignedPostIsAcceptedByTheReceiver() async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test") { receiver in
            let transport = WebhookTransport()
            let status = try await transport.post(
                WebhookRequest(
                    url: receiver.url(path: "/hooks/encours?tenant=7"), body: webhookBody, secret: "whsec_test",
                    deliveryID: "delivery-42", headers: [MessageHeader("X-Encours-Event", "invoice.paid")]))
            #expect(status == 200)
            let deliveries = try receiver.deliveries()
            #expect(deliveries.count == 1)
            #expect(deliveries.first?.deliveryID == "delivery-42")
            #expect(deliveries.first?.path == "/hooks/encours?tenant=7")
            #expect(deliveries.first?.contentType == "application/json")
            #expect(deliveries.first.map { Array($0.body) } == webhookBody)
        }
    }

    @Test func aWrongSecretIsRefusedAndPermanent() async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test") { receiver in
            let transport = WebhookTransport()
            let error = await #expect(throws: DeliveryError.self) {
                try await transport.post(
                    WebhookRequest(url: receiver.url(), body: webhookBody, secret: "whsec_wrong", deliveryID: "d-1"))
            }
            #expect(error?.code == .permanent)
            #expect(error?.responseCode == 401)
            #expect(error?.message.contains("HTTP 401") == true)
            #expect(error?.message.contains("invalid or stale signature") == true)
            let deliveries = try receiver.deliveries()
            #expect(deliveries.isEmpty)
        }
    }

    @Test func aStaleSignatureIsRefused() async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test") { receiver in
            let error = await #expect(throws: DeliveryError.self) {
                try await WebhookTransport().post(
                    WebhookRequest(
                        url: receiver.url(), body: webhookBody, secret: "whsec_test", deliveryID: "d-1",
                        timestamp: Date() - 600))
            }
            #expect(error?.responseCode == 401)
        }
    }

    @Test(arguments: [(503, DeliveryError.Code.temporary), (429, .temporary), (408, .temporary), (500, .temporary), (404, .permanent), (400, .permanent), (301, .permanent)])
    func statusesAreClassified(status: Int, code: DeliveryError.Code) async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test", status: status) { receiver in
            let error = await #expect(throws: DeliveryError.self) {
                try await WebhookTransport().post(
                    WebhookRequest(url: receiver.url(), body: webhookBody, secret: "whsec_test", deliveryID: "d-1"))
            }
            #expect(error?.code == code)
            #expect(error?.responseCode == status)
            #expect(error?.message.contains("HTTP \(status)") == true)
        }
    }

    /// Concurrent callers of one transport each get their own answer, one request at a time.
    @Test func concurrentPostsOnOneTransportAllArrive() async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test") { receiver in
            let transport = WebhookTransport()
            try await withThrowingTaskGroup(of: Int.self) { group in
                for number in 1...40 {
                    group.addTask {
                        try await transport.post(WebhookRequest(
                            url: receiver.url(), body: Array(#"{"number":\#(number)}"#.utf8), secret: "whsec_test", deliveryID: "d-\(number)"))
                    }
                }
                for try await status in group { #expect(status == 200) }
            }
            let deliveries = try receiver.deliveries()
            #expect(Set(deliveries.compactMap(\.deliveryID)) == Set((1...40).map { "d-\($0)" }))
        }
    }

    @Test func aHundredPostsReuseOneConnection() async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test") { receiver in
            let transport = WebhookTransport()
            for number in 1...100 {
                let body = Array(#"{"number":\#(number)}"#.utf8)
                try await transport.post(
                    WebhookRequest(url: receiver.url(), body: body, secret: "whsec_test", deliveryID: "d-\(number)"))
            }
            let deliveries = try receiver.deliveries()
            #expect(deliveries.count == 100)
            #expect(deliveries.map(\.deliveryID) == (1...100).map { "d-\($0)" })
            #expect(receiver.connectionCount() == 1)
        }
    }

    @Test func nothingListeningIsTemporary() async throws {
        let port = try await TestServers.closedPort()
        let error = await #expect(throws: DeliveryError.self) {
            try await WebhookTransport().post(
                WebhookRequest(url: "http://127.0.0.1:\(port)/hooks?token=s3cret", body: webhookBody, deliveryID: "d-1"))
        }
        #expect(error?.code == .temporary)
        #expect(error?.responseCode == nil)
        #expect(error?.message.contains("http://127.0.0.1:\(port)/hooks") == true)
        #expect(error?.message.contains("s3cret") == false)
    }

    @Test func aSlowReceiverTimesOutAsTemporary() async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test", delay: .seconds(10)) { receiver in
            let started = ContinuousClock.now
            let error = await #expect(throws: DeliveryError.self) {
                try await WebhookTransport(timeout: .milliseconds(300)).post(
                    WebhookRequest(url: receiver.url(), body: webhookBody, secret: "whsec_test", deliveryID: "d-1"))
            }
            #expect(error?.code == .temporary)
            #expect(error?.message.contains("imed out") == true)
            // Well before the receiver's answer (the margin is for a loaded machine).
            #expect(ContinuousClock.now - started < .seconds(8))
        }
    }

    @Test func cancellingThePostingTaskAbortsTheTransfer() async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test", delay: .seconds(10)) { receiver in
            let transport = WebhookTransport(timeout: .seconds(30))
            let started = ContinuousClock.now
            let task = Task {
                try await transport.post(
                    WebhookRequest(url: receiver.url(), body: webhookBody, secret: "whsec_test", deliveryID: "d-1"))
            }
            // Cancel once the request is on its way (the receiver has the connection).
            while receiver.connectionCount() == 0, ContinuousClock.now - started < .seconds(5) {
                try await Task.sleep(for: .milliseconds(10))
            }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(ContinuousClock.now - started < .seconds(8))
            // The transport is still usable after a cancelled call.
            try await TestServers.withWebhookReceiver(secret: "whsec_test") { fast in
                let status = try await transport.post(
                    WebhookRequest(url: fast.url(), body: webhookBody, secret: "whsec_test", deliveryID: "d-2"))
                #expect(status == 200)
            }
        }
    }

    @Test func invalidRequestsAreRefusedBeforeSending() async throws {
        try await TestServers.withWebhookReceiver(secret: "whsec_test") { receiver in
            let transport = WebhookTransport()
            let requests = [
                WebhookRequest(url: "ftp://127.0.0.1/x", body: webhookBody, deliveryID: "d-1"),
                WebhookRequest(url: "not a url", body: webhookBody, deliveryID: "d-1"),
                WebhookRequest(url: receiver.url(), body: webhookBody, deliveryID: "d 1"),
                WebhookRequest(url: receiver.url(), body: webhookBody, deliveryID: "d-1\r\nX-Evil: 1"),
                WebhookRequest(
                    url: receiver.url(), body: webhookBody, deliveryID: "d-1", headers: [MessageHeader("X-Tenant", "7\r\nX-Evil: 1")]),
                WebhookRequest(
                    url: receiver.url(), body: webhookBody, deliveryID: "d-1", headers: [MessageHeader("Encours-Signature", "t=1,v1=00")]),
                WebhookRequest(
                    url: receiver.url(), body: webhookBody, deliveryID: "d-1", headers: [MessageHeader("Bad Name", "1")]),
            ]
            for request in requests {
                let error = await #expect(throws: DeliveryError.self) { try await transport.post(request) }
                #expect(error?.code == .invalidMessage)
            }
            #expect(receiver.connectionCount() == 0)
        }
    }
}
