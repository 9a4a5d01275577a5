import EncoursLedger
import Foundation
import Testing
@testable import EncoursReminders

@Test func previewScratch() throws {
    let templates = try ReminderTemplates()
    try? FileManager.default.createDirectory(atPath: "/tmp/reminders-preview", withIntermediateDirectories: true)
    for name in ReminderTemplates.builtInNames {
        for language in ReminderLanguage.allCases {
            var document = sampleDocument(template: name, language: language)
            document.customer.addressLines = ["12 rue de la Paix", "75002 Paris"]
            document.creditor.addressLines = ["3 avenue des Champs", "69001 Lyon"]
            let rendered = try templates.render(document)
            try rendered.html.write(toFile: "/tmp/reminders-preview/\(name)-\(language.rawValue).html", atomically: true, encoding: .utf8)
            try (rendered.subject + "\n=====\n" + rendered.text).write(toFile: "/tmp/reminders-preview/\(name)-\(language.rawValue).txt", atomically: true, encoding: .utf8)
        }
    }
    #expect(Bool(true))
}
