import EncoursLedger
import Testing

@testable import EncoursReminders

@Suite("Risk alert messages")
struct RiskAlertMessageTests {
    func notice(_ alert: RiskTransition.Alert, customer: String = "L1", language: String = "fr") throws -> RiskAlertNotice {
        RiskAlertNotice(
            alert: alert, customerID: customer, customerName: "Retard & Fils", asOf: try CalendarDate(parsing: "2026-06-01"),
            currency: .eur, score: 47, grade: .d, exposureCents: 123_456, overdueCents: 60_000, creditLimitCents: 100_000,
            recommendation: .requireDeposit, language: language)
    }

    @Test("one alert: its own subject, the figures in French with the amounts as a reader writes them")
    func single() throws {
        let text = RiskAlertMessage.compose([try notice(.gradeWorsened(from: .c, to: .d))])
        #expect(text.subject == "Alerte risque : Retard & Fils (L1) passe de C à D")
        #expect(text.text.contains("Date : 1er juin 2026"))
        #expect(text.text.contains("Encours : 1\u{00A0}234,56\u{00A0}€"))
        #expect(text.text.contains("Limite de crédit : 1\u{00A0}000,00\u{00A0}€"))
        #expect(text.text.contains("Recommandation : exiger un acompte"))
        let english = RiskAlertMessage.compose([try notice(.creditLimitExceeded, language: "en")])
        #expect(english.subject == "Risk alert: Retard & Fils (L1) is over its credit limit")
        #expect(english.text.contains("Exposure: €1,234.56"))
        #expect(english.text.contains("Recommendation: require deposit"))
    }

    @Test("a recalculation's alerts in one digest: a line each, at most 200, the rest counted")
    func digest() throws {
        let two = RiskAlertMessage.compose([try notice(.gradeWorsened(from: .b, to: .d)), try notice(.creditLimitExceeded)])
        #expect(two.subject == "Alertes risque : 2 alertes au 1er juin 2026")
        #expect(two.text.contains("- Retard & Fils (L1) passe de B à D\n- Retard & Fils (L1) dépasse sa limite de crédit"))
        let many = RiskAlertMessage.compose(try (0..<250).map { try notice(.creditLimitExceeded, customer: "C\($0)", language: "en") })
        #expect(many.subject == "Risk alerts: 250 alerts at 1 June 2026")
        #expect(many.text.split(separator: "\n").filter { $0.hasPrefix("- ") }.count == 200)
        #expect(many.text.contains("… and 50 more."))
    }
}
