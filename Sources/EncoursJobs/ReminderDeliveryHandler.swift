import EncoursDelivery
import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue
import EncoursReminders
import Foundation
import Logging
import Synchronization

/// Where and how reminders are delivered; read from the environment by `encours-worker`.
public struct DeliveryConfiguration: Sendable {
    /// `ENCOURS_SMTP_URL`: `smtp://[user:password@]host[:port][?starttls=required|optional|never]` or
    /// `smtps://…`. Nil: email reminders wait (retrying) until a worker with SMTP runs them.
    public var smtpURL: String?
    /// `ENCOURS_SMTP_FROM`: the sender when the tenant sets no `smtp_from`.
    public var defaultFrom: String?
    /// `ENCOURS_OUTBOX_DIR`: letters are written under `<outbox>/<tenant slug>/`.
    public var outboxDirectory: String
    /// SMTP connections a worker keeps open (messages are spread over them).
    public var smtpConnections: Int
    /// HTTP connections a worker keeps open for webhooks.
    public var webhookConnections: Int

    public init(
        smtpURL: String? = nil, defaultFrom: String? = nil, outboxDirectory: String = "outbox", smtpConnections: Int = 4,
        webhookConnections: Int = 8
    ) {
        self.smtpURL = smtpURL
        self.defaultFrom = defaultFrom
        self.outboxDirectory = outboxDirectory
        self.smtpConnections = smtpConnections
        self.webhookConnections = webhookConnections
    }
}

/// The `reminder.deliver` kind: sends one reminder by its channel, or one notification to the
/// tenant (a risk alert), and records `sent` or `failed`.
///
/// Payload: `{"reminder_id": N}`, or `{"notification_id": N}` for a notification (email to the
/// tenant's `alert_email`, plain text; or its webhook, the notification's JSON event, signed),
/// which follows the same rules as a reminder. The reminder is read (and locked) in the job's tenant scope;
/// one already `sent` or `failed` completes the job at once. The document is rendered from the
/// tenant's template or the built-in one, in the customer's language, then sent outside any
/// transaction; the outcome and the job's completion then commit together. A temporary failure
/// (server down, SMTP 4xx, HTTP 5xx) throws, so the job retries with backoff; a permanent one
/// (SMTP 550, HTTP 4xx, no address) marks the reminder `failed` with its reason and completes.
/// After the last attempt a temporary failure is recorded as `failed` too. A delivery cut off
/// mid-flight (worker killed after the server accepted the message) is sent again by the retry
/// with the same `Message-ID` / `Encours-Delivery-Id`, so receivers can drop the duplicate.
public struct ReminderDeliveryHandler: JobHandler {
    public static let kindName = "reminder.deliver"
    /// Attempts before a temporary failure is final (with 15 s doubling backoff: about 17 hours).
    public static let maximumAttempts = 12

    public let kind = kindName
    let configuration: DeliveryConfiguration
    let mail: [SMTPTransport]
    let webhooks: [WebhookTransport]
    let counter = RoundRobin()

    public init(configuration: DeliveryConfiguration) throws {
        self.configuration = configuration
        if let url = configuration.smtpURL {
            let smtp = try SMTPConfiguration(url: url)
            mail = (0..<max(1, configuration.smtpConnections)).map { _ in SMTPTransport(configuration: smtp) }
        } else {
            mail = []
        }
        webhooks = (0..<max(1, configuration.webhookConnections)).map { _ in WebhookTransport() }
    }

    /// The payload of the delivery job of reminder `reminderID`.
    public static func payload(reminderID: Int64) -> String {
        "{\"reminder_id\": \(reminderID)}"
    }

    /// The payload of the delivery job of notification `notificationID` (a message to the tenant, such as a risk alert).
    public static func payload(notificationID: Int64) -> String {
        "{\"notification_id\": \(notificationID)}"
    }

    /// One delivery job per notification of `tenantID`, with the delivery's attempts.
    public static func jobs(notificationIDs: [Int64], tenantID: Int64) -> [NewJob] {
        notificationIDs.map { id in
            NewJob(tenantID: tenantID, kind: kindName, payload: payload(notificationID: id), maxAttempts: maximumAttempts)
        }
    }

    public func handle(_ context: JobContext) async throws {
        let payload = try JobPayload(context.job.payload)
        if let notificationID = try payload.integer("notification_id").map(Int64.init) {
            try await deliverNotification(notificationID, context: context)
            return
        }
        guard let reminderID = try payload.integer("reminder_id").map(Int64.init) else {
            throw HandlerError(.invalidPayload, "job \(context.job.id): reminder_id (or notification_id) is missing")
        }
        // A read (no fence, nothing to flush): the fenced write comes once the reminder is sent.
        let loaded = try await context.read { connection -> (ReminderDeliveryStore.Delivery, [ReminderTemplateStore.Template])? in
            guard let delivery = try ReminderDeliveryStore.pending(reminderID: reminderID, on: connection) else { return nil }
            return (delivery, try ReminderTemplateStore.load(on: connection))
        }
        guard let (delivery, templates) = loaded else {
            context.logger.info("reminder already delivered or failed; nothing to do", metadata: ["reminder.id": "\(reminderID)"])
            return
        }
        var logger = context.logger
        logger[metadataKey: "reminder.id"] = "\(reminderID)"
        logger[metadataKey: "reminder.channel"] = "\(delivery.reminder.channel)"
        try await sendRecording(
            what: "reminder", context: context, logger: logger,
            send: { try await deliver(delivery, templates: templates, logger: logger) },
            outcome: { connection, failure in
                if let failure {
                    try ReminderDeliveryStore.markFailed(reminderID: reminderID, reason: failure, on: connection)
                } else {
                    try ReminderDeliveryStore.markSent(reminderID: reminderID, on: connection)
                }
            },
            noteAttempt: { try ReminderDeliveryStore.noteAttempt(reminderID: reminderID, on: $0) })
    }

    /// Sends a notification to the tenant (its `alert_email` or `webhook_url`) and records the outcome.
    func deliverNotification(_ notificationID: Int64, context: JobContext) async throws {
        guard let delivery = try await context.read({ try NotificationStore.pending(notificationID: notificationID, on: $0) }) else {
            context.logger.info("notification already delivered or failed; nothing to do", metadata: ["notification.id": "\(notificationID)"])
            return
        }
        var logger = context.logger
        logger[metadataKey: "notification.id"] = "\(notificationID)"
        logger[metadataKey: "notification.channel"] = "\(delivery.channel)"
        try await sendRecording(
            what: "notification", context: context, logger: logger,
            send: { try await send(delivery) },
            outcome: { connection, failure in
                if let failure {
                    try NotificationStore.markFailed(notificationID: notificationID, reason: failure, on: connection)
                } else {
                    try NotificationStore.markSent(notificationID: notificationID, on: connection)
                }
            },
            noteAttempt: { try NotificationStore.noteAttempt(notificationID: notificationID, on: $0) })
    }

    /// Runs `send`, then records its outcome with this attempt's completion: sent; failed for
    /// good (a permanent error, a broken template, or the last attempt); or, for a temporary
    /// failure with attempts left, the attempt counted and the error thrown so the job retries.
    func sendRecording(
        what: String, context: JobContext, logger: Logger, send: () async throws -> Void,
        outcome: @escaping @Sendable (PostgresConnection, String?) throws -> Void,
        noteAttempt: @escaping @Sendable (PostgresConnection) throws -> Void
    ) async throws {
        do {
            try await send()
        } catch let error as DeliveryError where !error.isRetryable {
            try await record(failure: error.message, outcome: outcome, context: context)
            logger.warning("\(what) delivery failed for good", metadata: ["error": "\(error.message)"])
            return
        } catch let error as DeliveryError {
            if context.job.countedAttempts >= context.job.maxAttempts {
                try await record(
                    failure: "gave up after \(context.job.countedAttempts) attempts: \(error.message)", outcome: outcome, context: context)
                logger.warning("\(what) delivery gave up", metadata: ["error": "\(error.message)"])
                return
            }
            _ = try? await context.transaction { transaction in try noteAttempt(transaction.connection) }
            throw error
        } catch let error as ReminderError {
            try await record(failure: "template: \(error)", outcome: outcome, context: context)
            return
        }
        try await record(failure: nil, outcome: outcome, context: context)
        logger.info("\(what) sent")
    }

    func record(
        failure: String?, outcome: @escaping @Sendable (PostgresConnection, String?) throws -> Void, context: JobContext
    ) async throws {
        try await context.transaction { transaction in
            try outcome(transaction.connection, failure)
            transaction.completeJob()
        }
    }

    /// Throws a temporary failure when this worker has no SMTP server: `what` waits for one that has.
    func requireMail(for what: String) throws {
        guard !mail.isEmpty else {
            throw DeliveryError(code: .temporary, message: "this worker has no ENCOURS_SMTP_URL; \(what) waits for one that has")
        }
    }

    /// The tenant's sender address (or the worker's default) and its domain, for the `Message-ID`.
    func sender(_ settings: [String: String]) throws -> (from: String, domain: String) {
        guard let from = settings["smtp_from"] ?? configuration.defaultFrom else {
            throw DeliveryError(code: .permanent, message: "no sender address: set the tenant's smtp_from (or ENCOURS_SMTP_FROM)")
        }
        return (from, from.split(separator: "@").last.map(String.init) ?? "encours.invalid")
    }

    /// The tenant's webhook secret; a permanent failure naming the command that sets it when there is none.
    func webhookSecret(_ settings: [String: String], tenantSlug: String) throws -> String {
        guard let secret = settings["webhook_secret"] else {
            throw DeliveryError(code: .permanent, message: "no webhook_secret: set it with encours tenant set \(tenantSlug) webhook_secret SECRET")
        }
        return secret
    }

    /// Sends a notification by email (plain text) or webhook (its JSON event, signed).
    func send(_ delivery: NotificationStore.Delivery) async throws {
        switch delivery.channel {
        case "email":
            try requireMail(for: "an email notification")
            let (from, domain) = try sender(delivery.settings)
            let message = EmailMessage(
                from: EmailAddress(from, displayName: "Encours"), to: [EmailAddress(delivery.recipient, displayName: delivery.tenantName)],
                subject: delivery.subject, textBody: delivery.text, htmlBody: nil,
                messageID: "<notification-\(delivery.id).\(delivery.tenantSlug)@\(domain)>", date: Date(),
                headers: [MessageHeader("Auto-Submitted", "auto-generated")])
            try await mail[counter.next() % mail.count].send(message)
        default:
            let secret = try webhookSecret(delivery.settings, tenantSlug: delivery.tenantSlug)
            try await webhooks[counter.next() % webhooks.count].post(
                WebhookRequest(
                    url: delivery.recipient, body: Array(delivery.payload.utf8), secret: secret,
                    deliveryID: "notification-\(delivery.tenantSlug)-\(delivery.id)"))
        }
    }

    func deliver(_ delivery: ReminderDeliveryStore.Delivery, templates: [ReminderTemplateStore.Template], logger: Logger) async throws {
        let reminder = delivery.reminder
        let rendered = try ReminderTemplates(overrides: templates.compactMap { template in
            ReminderLanguage(rawValue: template.language).map {
                TemplateOverride(name: template.name, language: $0, subject: template.subject, text: template.text, html: template.html)
            }
        }).render(try Self.document(delivery))
        let id = reminder.id ?? 0
        switch reminder.channel {
        case "email":
            try requireMail(for: "an email reminder")
            guard let recipient = reminder.recipient else { throw DeliveryError(code: .permanent, message: "reminder \(id) has no recipient address") }
            let (from, domain) = try sender(delivery.settings)
            let message = EmailMessage(
                from: EmailAddress(from, displayName: delivery.tenantName), to: [EmailAddress(recipient, displayName: delivery.customerName)],
                subject: rendered.subject, textBody: rendered.text, htmlBody: rendered.html,
                messageID: "<reminder-\(id).\(delivery.tenantSlug)@\(domain)>", date: Date(),
                headers: [MessageHeader("Auto-Submitted", "auto-generated")])
            try await mail[counter.next() % mail.count].send(message)
        case "webhook":
            guard let url = delivery.settings["webhook_url"] else {
                throw DeliveryError(code: .permanent, message: "no webhook_url: set it with encours tenant set \(delivery.tenantSlug) webhook_url URL")
            }
            let secret = try webhookSecret(delivery.settings, tenantSlug: delivery.tenantSlug)
            let body = try Self.webhookBody(delivery, rendered: rendered)
            try await webhooks[counter.next() % webhooks.count].post(
                WebhookRequest(url: url, body: body, secret: secret, deliveryID: "reminder-\(delivery.tenantSlug)-\(id)"))
        default:
            let directory = URL(fileURLWithPath: configuration.outboxDirectory).appending(path: delivery.tenantSlug).path
            let path = try LetterWriter(directory: directory).write(html: rendered.html, fileName: "reminder-\(id).html")
            logger.info("letter written", metadata: ["letter.path": "\(path)"])
        }
    }

    /// The reminder as its template sees it.
    static func document(_ delivery: ReminderDeliveryStore.Delivery) throws -> ReminderDocument {
        let reminder = delivery.reminder
        func cents(_ text: String) throws -> Int64 { try Money.parseExactCents(text) }
        let asOf = try CalendarDate(parsing: reminder.asOf)
        return ReminderDocument(
            reminderID: reminder.id ?? 0, template: reminder.template,
            language: ReminderLanguage(rawValue: reminder.language) ?? .fr, level: reminder.level, asOf: asOf,
            currency: try CurrencyCode(reminder.currency),
            creditor: ReminderDocument.Party(name: delivery.tenantName, email: delivery.settings["smtp_from"], identifier: delivery.tenantSlug),
            customer: ReminderDocument.Party(name: delivery.customerName, email: delivery.customerEmail, identifier: reminder.customerID),
            items: try reminder.items.map { item in
                ReminderDocument.Item(
                    invoiceID: item.invoiceID, issueDate: try CalendarDate(parsing: item.issueDate), dueDate: try CalendarDate(parsing: item.dueDate),
                    amountCents: try cents(item.amount), balanceCents: try cents(item.balance), daysOverdue: item.daysOverdue, level: item.level,
                    interestCents: try cents(item.interest), indemnityCents: try cents(item.indemnity))
            },
            totalBalanceCents: try cents(reminder.totalBalance), interestCents: try cents(reminder.interest),
            indemnityCents: try cents(reminder.indemnity), chargesPenalties: delivery.chargesPenalties,
            penaltyMarginPoints: delivery.settings["penalty_margin_points"] ?? "10",
            paymentDeadline: try asOf.adding(days: formalNoticeDays))
    }

    /// Days a formal notice gives the customer to pay (the deadline printed in it).
    public static let formalNoticeDays = 8

    /// The webhook's JSON: the reminder as `reminders list --json` shows it, the customer and the document.
    static func webhookBody(_ delivery: ReminderDeliveryStore.Delivery, rendered: RenderedReminder) throws -> [UInt8] {
        struct Body: Encodable {
            struct Customer: Encodable {
                var id: String
                var name: String
                var email: String?
            }
            struct Document: Encodable {
                var subject: String
                var text: String
            }
            var event = "reminder"
            var tenant: String
            var reminder: ReminderView
            var customer: Customer
            var document: Document
        }
        let body = Body(
            tenant: delivery.tenantSlug, reminder: delivery.reminder,
            customer: Body.Customer(id: delivery.reminder.customerID, name: delivery.customerName, email: delivery.customerEmail),
            document: Body.Document(subject: rendered.subject, text: rendered.text))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(body))
    }
}

/// A counter shared by concurrent jobs, to spread them over a worker's connections.
final class RoundRobin: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 &+= 1; return $0 & Int.max } }
}
