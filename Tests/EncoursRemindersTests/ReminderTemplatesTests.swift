import EncoursLedger
import Foundation
import Testing

@testable import EncoursReminders

private func day(_ text: String) -> CalendarDate { try! CalendarDate(parsing: text) }
private let nbsp = "\u{00A0}"

/// A formal notice for two invoices, the second partly paid.
func sampleDocument(template: String = "formal_notice", language: ReminderLanguage = .fr, customerName: String = "Dupont SA") -> ReminderDocument {
    let penalties = template == "formal_notice"
    return ReminderDocument(
        reminderID: 42, template: template, language: language, level: 3, asOf: day("2025-04-30"), currency: .eur,
        creditor: .init(name: "Acme Fournitures", email: "relances@acme.example", identifier: "acme"),
        customer: .init(name: customerName, email: "compta@dupont.example", identifier: "C001"),
        items: [
            .init(invoiceID: "F2025-001", issueDate: day("2025-03-01"), dueDate: day("2025-03-31"), amountCents: 123_456, balanceCents: 123_456,
                  daysOverdue: 30, level: 3, interestCents: penalties ? 1334 : 0, indemnityCents: penalties ? 4000 : 0),
            .init(invoiceID: "F2025-002", issueDate: day("2025-03-10"), dueDate: day("2025-04-09"), amountCents: 50_000, balanceCents: 20_000,
                  daysOverdue: 21, level: 2, interestCents: penalties ? 151 : 0, indemnityCents: penalties ? 4000 : 0),
        ],
        totalBalanceCents: 143_456, interestCents: penalties ? 1485 : 0, indemnityCents: penalties ? 8000 : 0,
        chargesPenalties: penalties, penaltyMarginPoints: "10", paymentDeadline: day("2025-05-08"))
}

@Suite("Money and dates for readers")
struct FormatTests {
    @Test("French and English amounts")
    func money() {
        #expect(MoneyFormat.format(cents: 123_456, currency: .eur, language: .fr) == "1\(nbsp)234,56\(nbsp)€")
        #expect(MoneyFormat.format(cents: 123_456, currency: .eur, language: .en) == "€1,234.56")
        #expect(MoneyFormat.format(cents: 5, currency: .eur, language: .fr) == "0,05\(nbsp)€")
        #expect(MoneyFormat.format(cents: 0, currency: .eur, language: .en) == "€0.00")
        #expect(MoneyFormat.format(cents: -123_456, currency: .eur, language: .en) == "-€1,234.56")
        #expect(MoneyFormat.format(cents: -100, currency: .eur, language: .fr) == "-1,00\(nbsp)€")
        #expect(MoneyFormat.format(cents: 100_000_000_000_000, currency: .eur, language: .fr) == "1\(nbsp)000\(nbsp)000\(nbsp)000\(nbsp)000,00\(nbsp)€")
        #expect(MoneyFormat.format(cents: Int64.max, currency: .usd, language: .en) == "$92,233,720,368,547,758.07")
        #expect(MoneyFormat.format(cents: 99_999, currency: .chf, language: .en) == "CHF 999.99")
        #expect(MoneyFormat.format(cents: 99_999, currency: .usd, language: .fr) == "999,99\(nbsp)USD")
    }

    @Test("dates in full and short")
    func dates() {
        #expect(DateFormat.format(day("2026-12-02"), language: .fr) == "2 décembre 2026")
        #expect(DateFormat.format(day("2026-08-01"), language: .fr) == "1er août 2026")
        #expect(DateFormat.format(day("2026-12-02"), language: .en) == "2 December 2026")
        #expect(DateFormat.short(day("2026-03-05"), language: .fr) == "05/03/2026")
        #expect(DateFormat.short(day("2026-03-05"), language: .en) == "2026-03-05")
    }
}

@Suite("Reminder templates")
struct ReminderTemplatesTests {
    let templates = try! ReminderTemplates()

    @Test("every built-in level renders in both languages with the amounts, invoices and days overdue",
          arguments: ReminderTemplates.builtInNames, ReminderLanguage.allCases)
    func builtIns(name: String, language: ReminderLanguage) throws {
        let rendered = try templates.render(sampleDocument(template: name, language: language))
        let balance = MoneyFormat.format(cents: 143_456, currency: .eur, language: language)
        for part in [rendered.text, rendered.html] {
            #expect(part.contains("F2025-001") && part.contains("F2025-002"))
            #expect(part.contains(balance), "\(name) \(language): total balance")
            #expect(part.contains(MoneyFormat.format(cents: 20_000, currency: .eur, language: language)))
            #expect(part.contains("30") && part.contains("21"))
            #expect(part.contains("Acme Fournitures"))
        }
        #expect(!rendered.subject.isEmpty && !rendered.subject.contains("\n"))
        #expect(rendered.html.hasPrefix("<!DOCTYPE html>"))
        #expect(rendered.html.contains("lang=\"\(language.rawValue)\""))
    }

    @Test("the formal notice cites L441-10 and D441-5, shows interest, indemnity, total and deadline")
    func formalNotice() throws {
        let french = try templates.render(sampleDocument())
        #expect(french.subject.hasPrefix("Mise en demeure de payer"))
        for part in [french.text, french.html] {
            #expect(part.contains("L441-10") && part.contains("D441-5"))
            #expect(part.contains("Code de commerce"))
            #expect(part.contains("14,85\(nbsp)€"), "interest")
            #expect(part.contains("80,00\(nbsp)€"), "indemnities")
            #expect(part.contains("1\(nbsp)529,41\(nbsp)€"), "total due = 1434.56 + 14.85 + 80.00")
            #expect(part.contains("8 mai 2025"), "deadline")
            #expect(part.contains("majoré de 10 points"))
        }
        let english = try templates.render(sampleDocument(language: .en))
        #expect(english.subject.hasPrefix("Formal notice to pay"))
        #expect(english.text.contains("€1,529.41") && english.text.contains("8 May 2025"))
        #expect(english.html.contains("L441-10") && english.html.contains("D441-5"))
        // Levels without penalties say nothing of them.
        let friendly = try templates.render(sampleDocument(template: "friendly"))
        #expect(!friendly.html.contains("L441-10"))
        #expect(!friendly.text.contains("Pénalités"))
    }

    @Test("HTML is escaped, plain text is not; emoji and right-to-left names survive")
    func escaping() throws {
        let name = "O'Brien & <Sons> \"Ltd\"; DROP TABLE customers; -- 🧾 شركة"
        let rendered = try templates.render(sampleDocument(template: "firm", language: .en, customerName: name))
        #expect(rendered.text.contains(name))
        #expect(!rendered.html.contains("<Sons>"))
        #expect(rendered.html.contains("&lt;Sons&gt;"))
        #expect(rendered.html.contains("&amp;"))
        #expect(rendered.html.contains("🧾 شركة"))
    }

    @Test("an override is used for its language, the built-in for the other; bad Mustache is refused")
    func overrides() throws {
        let override = TemplateOverride(
            name: "firm", language: .fr, subject: "Relance {{reminder_id}} : {{total_balance}}",
            text: "Bonjour {{customer_name}}, total {{total_balance}}.", html: "<p>{{customer_name}} — {{total_balance}}</p>")
        let templates = try ReminderTemplates(overrides: [override])
        let french = try templates.render(sampleDocument(template: "firm", language: .fr, customerName: "A & B"))
        #expect(french.subject == "Relance 42 : 1\(nbsp)434,56\(nbsp)€")
        #expect(french.text == "Bonjour A & B, total 1\(nbsp)434,56\(nbsp)€.")
        #expect(french.html == "<p>A &amp; B — 1\(nbsp)434,56\(nbsp)€</p>")
        let english = try templates.render(sampleDocument(template: "firm", language: .en))
        #expect(english.subject.hasPrefix("Second reminder"))

        let own = try ReminderTemplates(overrides: [TemplateOverride(name: "gentle", language: .en, subject: "Hi", text: "t", html: "h")])
        #expect(own.hasTemplate(named: "gentle"))
        #expect(!own.hasTemplate(named: "shouty"))
        do {
            try ReminderTemplates.validate(TemplateOverride(name: "broken", language: .fr, subject: "x", text: "{{#items}}no end", html: "h"))
            Issue.record("an unclosed section was accepted")
        } catch {
            #expect(error.code == .invalidTemplate)
            #expect(error.message.contains("template broken (fr) text"), "\(error.message)")
        }
        do {
            _ = try templates.render(sampleDocument(template: "shouty"))
            Issue.record("an unknown template rendered")
        } catch {
            #expect(error.code == .unknownTemplate)
        }
    }
}

@Suite("Reminder documents in a real browser")
struct BrowserRenderingTests {
    /// Debian's headless Chromium; the tests fail without it unless ENCOURS_SKIP_BROWSER_TESTS=1.
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    func runChromium(_ arguments: [String], directory: URL) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.chromium))
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(directory.path)/profile"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Read while it runs (a full pipe would block it); a watchdog ends a hung browser.
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        let data = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: output.fileHandleForReading.readDataToEndOfFile()) }
        }
        process.waitUntilExit()
        watchdog.cancel()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("each level and language opens in headless Chromium with its amounts and legal text; a letter screenshots to a real page")
    func chromiumRendersEveryDocument() async throws {
        guard Self.chromium != nil else {
            if ProcessInfo.processInfo.environment["ENCOURS_SKIP_BROWSER_TESTS"] == "1" { return }
            Issue.record("chromium is not installed (apt-get install chromium), or set ENCOURS_SKIP_BROWSER_TESTS=1")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appending(path: "encours-browser-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let templates = try ReminderTemplates()
        for language in ReminderLanguage.allCases {
            for name in ReminderTemplates.builtInNames {
                let rendered = try templates.render(sampleDocument(template: name, language: language))
                let file = directory.appending(path: "\(name)-\(language.rawValue).html")
                try Data(rendered.html.utf8).write(to: file)
                let (status, serialized) = try await runChromium(["--dump-dom", file.absoluteString], directory: directory)
                // The browser serializes no-break spaces as entities.
                let dom = serialized.replacingOccurrences(of: "&nbsp;", with: "\u{00A0}")
                #expect(status == 0, "\(name) \(language): chromium exited \(status)")
                // The DOM as the browser built it: the statement table and its totals are there.
                #expect(dom.contains("<table"), "\(name) \(language)")
                #expect(dom.contains("F2025-001") && dom.contains("F2025-002"))
                #expect(dom.contains(MoneyFormat.format(cents: 143_456, currency: .eur, language: language)), "\(name) \(language)")
                if name == "formal_notice" {
                    #expect(dom.contains("L441-10") && dom.contains("D441-5"))
                    #expect(dom.contains(MoneyFormat.format(cents: 8000, currency: .eur, language: language)))
                }
            }
        }
        let letter = directory.appending(path: "formal_notice-fr.html")
        let screenshot = directory.appending(path: "formal_notice-fr.png")
        _ = try await runChromium(["--screenshot=\(screenshot.path)", "--window-size=1240,1754", letter.absoluteString], directory: directory)
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        #expect(png.count > 20_000, "a rendered page, not a blank one: \(png.count) bytes")
    }
}
