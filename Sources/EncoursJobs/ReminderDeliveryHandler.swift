import EncoursDelivery
import EncoursLedger
import EncoursLedgerStore
import EncoursPostgres
import EncoursQueue
import EncoursReminders
import Foundation
import Logging
import Metrics
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

/// The `reminder.deliver` kind: sends a batch of reminders by their channels, or one
/// notification to the tenant (a risk alert or a dispute escalation), and records each `sent` or
/// `failed`.
///
/// Payload: `{"reminder_ids": [N, ...]}` (at most ``maximumBatch``; a dunning run writes batches
/// of ``batchSize`` reminders of one channel), `{"reminder_id": N}` for one, or
/// `{"notification_id": N}` for a notification (email to the tenant's `alert_email`, plain
/// text; or its webhook, the notification's JSON event, signed), which follows the same rules.
/// The reminders still `pending` are read in the job's tenant scope (those already sent or
/// failed are skipped, so a retry sends only what is left); each document is rendered from the
/// tenant's template or the built-in one, in the customer's language; they are sent at once
/// over the worker's connections, outside any transaction; then every outcome and the job's
/// completion commit together in the job's fenced transaction. A temporary failure (server
/// down, SMTP 4xx, HTTP 5xx) counts an attempt on its reminder and, once the others are
/// recorded, fails the job so it retries with backoff; a permanent one (SMTP 550, HTTP 4xx, no
/// address, a broken template) marks the reminder `failed` with its reason. After the last
/// attempt a temporary failure is recorded as `failed` too. A delivery cut off mid-flight
/// (worker killed after the server accepted the message) is sent again by the retry with the
/// same `Message-ID` / `Encours-Delivery-Id`, so receivers can drop the duplicate.
public struct ReminderDeliveryHandler: JobHandler {
    public static let kindName = "reminder.deliver"
    /// Attempts before a temporary failure is final (with 15 s doubling backoff: about 17 hours).
    public static let maximumAttempts = 12
    /// Reminders per delivery job written by a dunning run: the job's claim, read, fenced write
    /// and durable commit are shared by this many messages.
    public static let batchSize = 20
    /// The most reminders one job's payload may name.
    public static let maximumBatch = 1000

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

    /// The payload of the delivery job of the reminders `reminderIDs`.
    public static func payload(reminderIDs: [Int64]) -> String {
        "{\"reminder_ids\": [\(reminderIDs.map(String.init).joined(separator: ", "))]}"
    }

    /// The payload of the delivery job of notification `notificationID` (a message to the tenant, such as a risk alert).
    public static func payload(notificationID: Int64) -> String {
        "{\"notification_id\": \(notificationID)}"
    }

    /// The delivery jobs of a dunning run's reminders: batches of ``batchSize`` reminders of one
    /// channel (so a mail outage never holds up webhooks or letters), in id order.
    public static func jobs(reminders: [DunningRun.RecordedReminder], tenantID: Int64) -> [NewJob] {
        var byChannel: [String: [Int64]] = [:]
        var channels: [String] = []
        for reminder in reminders {
            if byChannel[reminder.channel] == nil { channels.append(reminder.channel) }
            byChannel[reminder.channel, default: []].append(reminder.id)
        }
        return channels.flatMap { channel in
            let ids = byChannel[channel] ?? []
            return stride(from: 0, to: ids.count, by: batchSize).map { start in
                NewJob(
                    tenantID: tenantID, kind: kindName, payload: payload(reminderIDs: Array(ids[start..<min(start + batchSize, ids.count)])),
                    maxAttempts: maximumAttempts)
            }
        }
    }

    /// One delivery job per notification of `tenantID`, with the delivery's attempts.
    public static func jobs(notificationIDs: [Int64], tenantID: Int64) -> [NewJob] {
        notificationIDs.map { id in
            NewJob(tenantID: tenantID, kind: kindName, payload: payload(notificationID: id), maxAttempts: maximumAttempts)
        }
    }

    public func handle(_ context: JobContext) async throws {
        let payload = try JobPayload(stored: context.job.payload)
        if let notificationID = try payload.integer("notification_id").map(Int64.init) {
            try await deliverNotification(notificationID, context: context)
            return
        }
        let reminderIDs: [Int64]
        if let ids = try payload.integers("reminder_ids") {
            guard (1...Self.maximumBatch).contains(ids.count) else {
                throw HandlerError(.invalidPayload, "job \(context.job.id): reminder_ids names \(ids.count) reminders; 1 to \(Self.maximumBatch) are accepted")
            }
            reminderIDs = ids.map(Int64.init)
        } else if let id = try payload.integer("reminder_id") {
            reminderIDs = [Int64(id)]
        } else {
            throw HandlerError(.invalidPayload, "job \(context.job.id): reminder_ids (or reminder_id, or notification_id) is missing")
        }
        try await deliverReminders(reminderIDs, context: context)
    }

    /// Sends the pending reminders among `reminderIDs` at once and records every outcome in one fenced write.
    func deliverReminders(_ reminderIDs: [Int64], context: JobContext) async throws {
        // A read (no fence, nothing to flush): the fenced write comes once the reminders are sent.
        let (deliveries, templateRows) = try await context.read { connection in
            let deliveries = try ReminderDeliveryStore.pending(reminderIDs: reminderIDs, on: connection)
            return (deliveries, deliveries.isEmpty ? [] : try ReminderTemplateStore.load(on: connection))
        }
        guard !deliveries.isEmpty else {
            context.logger.info(
                "no pending reminder of this tenant among those named (already delivered, failed, or not this tenant's); nothing to do",
                metadata: ["reminder.ids": "\(reminderIDs.count)"])
            return
        }
        let templates = Result { () throws(ReminderError) -> ReminderTemplates in
            try ReminderTemplates(overrides: templateRows.compactMap { template in
                ReminderLanguage(rawValue: template.language).map {
                    TemplateOverride(name: template.name, language: $0, subject: template.subject, text: template.text, html: template.html)
                }
            })
        }
        let attempts = await withTaskGroup(of: (Int, DeliveryAttempt).self) { group in
            for (index, delivery) in deliveries.enumerated() {
                group.addTask {
                    var logger = context.logger
                    logger[metadataKey: "reminder.id"] = "\(delivery.reminder.id ?? 0)"
                    logger[metadataKey: "reminder.channel"] = "\(delivery.reminder.channel)"
                    let attempt = await DeliveryAttempt(job: context.job) {
                        try await deliver(delivery, templates: try templates.get(), logger: logger)
                    }
                    attempt.log("reminder", logger: logger)
                    return (index, attempt)
                }
            }
            var attempts = [DeliveryAttempt](repeating: .interrupted, count: deliveries.count)
            for await (index, attempt) in group { attempts[index] = attempt }
            return attempts
        }
        try await record(
            zip(deliveries.map { ($0.reminder.id ?? 0, $0.reminder.channel) }, attempts).map { ($0.0, $0.1, $1) },
            what: "reminders", context: context
        ) { outcomes, connection in try ReminderDeliveryStore.record(outcomes, on: connection) }
    }

    /// Sends a notification to the tenant (its `alert_email` or `webhook_url`) and records the outcome.
    func deliverNotification(_ notificationID: Int64, context: JobContext) async throws {
        guard let delivery = try await context.read({ try NotificationStore.pending(notificationID: notificationID, on: $0) }) else {
            context.logger.info(
                "the notification is not pending for this tenant (already delivered, failed, or not this tenant's); nothing to do",
                metadata: ["notification.id": "\(notificationID)"])
            return
        }
        var logger = context.logger
        logger[metadataKey: "notification.id"] = "\(notificationID)"
        logger[metadataKey: "notification.channel"] = "\(delivery.channel)"
        let attempt = await DeliveryAttempt(job: context.job) { try await send(delivery) }
        attempt.log("notification", logger: logger)
        try await record([(notificationID, delivery.channel, attempt)], what: "notifications", context: context) { outcomes, connection in
            try NotificationStore.record(outcomes, on: connection)
        }
    }

    /// Records the attempts (id, channel, attempt) in the job's fenced transaction, with the job's
    /// completion unless some must be tried again; then throws so the job retries those.
    func record(
        _ attempts: [(id: Int64, channel: String, attempt: DeliveryAttempt)], what: String, context: JobContext,
        write: @escaping @Sendable (DeliveryOutcomes, PostgresConnection) throws -> Void
    ) async throws {
        var outcomes = DeliveryOutcomes()
        var firstRetry: String?
        var interrupted = false
        for (id, _, attempt) in attempts {
            switch attempt {
            case .sent: outcomes.sent.append(id)
            case .failed(let reason): outcomes.failed.append((id, reason))
            case .retry(let reason):
                outcomes.retried.append(id)
                firstRetry = firstRetry ?? reason
            case .interrupted: interrupted = true
            }
        }
        let completes = outcomes.retried.isEmpty && !interrupted
        let recorded = outcomes
        // Sent is sent: a lost connection must not make the retry send these again.
        try await context.transaction(retryingWhileUnreachable: true) { transaction in
            try write(recorded, transaction.connection)
            if completes { transaction.completeJob() }
        }
        for (_, channel, attempt) in attempts { DeliveryMetrics.count(channel: channel, attempt) }
        if interrupted { throw CancellationError() }
        if let firstRetry {
            throw DeliveryError(
                code: .temporary,
                message: attempts.count == 1 ? firstRetry : "\(outcomes.retried.count) of \(attempts.count) \(what) failed for now; first: \(firstRetry)")
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

    func deliver(_ delivery: ReminderDeliveryStore.Delivery, templates: ReminderTemplates, logger: Logger) async throws {
        let reminder = delivery.reminder
        let rendered = try templates.render(try Self.document(delivery))
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

/// How one message's delivery attempt ended.
enum DeliveryAttempt: Sendable {
    /// Accepted by the server, or written (letters).
    case sent
    /// Refused for good (a permanent error, a broken template, or the last attempt): the reason.
    case failed(String)
    /// Failed for now, with attempts left: the reason; the job retries.
    case retry(String)
    /// Cut off by the worker's shutdown: neither counted nor recorded.
    case interrupted

    /// Runs `send` and classifies how it ended, given the attempts `job` has had.
    init(job: Job, _ send: () async throws -> Void) async {
        do {
            try await send()
            self = .sent
        } catch let error as DeliveryError where !error.isRetryable {
            self = .failed(error.message)
        } catch let error as DeliveryError {
            self = Self.temporary(error.message, job: job)
        } catch let error as ReminderError {
            self = .failed("template: \(error)")
        } catch is CancellationError {
            self = .interrupted
        } catch {
            self = Task.isCancelled ? .interrupted : Self.temporary("\(error)", job: job)
        }
    }

    /// A temporary failure: retried while attempts remain, failed for good after the last.
    static func temporary(_ message: String, job: Job) -> DeliveryAttempt {
        job.countedAttempts >= job.maxAttempts ? .failed("gave up after \(job.countedAttempts) attempts: \(message)") : .retry(message)
    }

    /// The metrics label of this outcome.
    var status: String {
        switch self {
        case .sent: "sent"
        case .failed: "failed"
        case .retry: "retried"
        case .interrupted: "interrupted"
        }
    }

    /// Logs the outcome of one delivery of a `what` (reminder, notification).
    func log(_ what: String, logger: Logger) {
        switch self {
        case .sent: logger.debug("\(what) sent")
        case .failed(let reason): logger.warning("\(what) delivery failed for good", metadata: ["error": "\(reason)"])
        case .retry(let reason): logger.notice("\(what) delivery failed for now; it will be retried", metadata: ["error": "\(reason)"])
        case .interrupted: logger.notice("\(what) delivery interrupted by shutdown")
        }
    }
}

/// `encours_reminders_delivered_total{channel, status}`: messages (reminders and notifications)
/// by channel and outcome (`sent`, `failed`, `retried`), counted once their outcome is recorded.
enum DeliveryMetrics {
    static func count(channel: String, _ attempt: DeliveryAttempt) {
        guard case .interrupted = attempt else {
            Counter(label: "encours_reminders_delivered_total", dimensions: [("channel", channel), ("status", attempt.status)]).increment()
            return
        }
    }
}
