import Testing
@testable import EncoursLedger

/// One test per rule of the payments and disputes files (SPEC §4), asserting the exact message and line.
@Suite("Import: payments and disputes rules")
struct ImportPaymentAndDisputeRulesTests {
    private let paymentsHeader = "payment_id;customer_id;received_on;amount;invoice_id;currency\n"
    private let disputesHeader = "dispute_id;invoice_id;reason;opened_on;amount\n"

    private func paymentMessages(_ row: String) throws -> [String] {
        try parseCSV(.payments, paymentsHeader + row + "\n").messages
    }

    private func disputeMessages(_ row: String) throws -> [String] {
        try parseCSV(.disputes, disputesHeader + row + "\n").messages
    }

    @Test("a payment without invoice_id is cash on account; with one it pays that invoice")
    func paymentApplication() throws {
        let parsed = try parseCSV(.payments, paymentsHeader + "P1;C1;2025-02-01;500;;\nP2;C1;02/02/2025;120,50;FA-9;usd\n")
        #expect(parsed.payments.map(\.invoiceID) == [nil, "FA-9"])
        #expect(parsed.payments.map(\.amount) == [Money(cents: 50_000, currency: .eur), Money(cents: 12_050, currency: .usd)])
        #expect(parsed.payments.map(\.receivedOn) == [day("2025-02-01"), day("2025-02-02")])
    }

    @Test("payment columns are required")
    func paymentRequired() throws {
        #expect(try paymentMessages("P1;;;;;") == [
            "payments.csv:2: customer_id: required value is missing",
            "payments.csv:2: received_on: required value is missing",
            "payments.csv:2: amount: required value is missing",
        ])
    }

    @Test("a payment's amount is greater than zero")
    func paymentAmountPositive() throws {
        #expect(try paymentMessages("P1;C1;2025-02-01;-500;;") == [
            "payments.csv:2: amount: must be greater than zero (\"-500\")",
        ])
    }

    @Test("a payment's date must exist")
    func paymentDate() throws {
        #expect(try paymentMessages("P1;C1;30/02/2025;500;;") == ["payments.csv:2: received_on: no such date (\"30/02/2025\")"])
    }

    @Test("a payment_id repeated in the file names both lines")
    func duplicatePayment() throws {
        let parsed = try parseCSV(.payments, paymentsHeader + "P1;C1;2025-02-01;500;;\nP2;C1;2025-02-01;5;;\nP1;C2;2025-02-03;7;;\n")
        #expect(parsed.messages == ["payments.csv:4: payment_id: duplicate of line 2 (\"P1\")"])
    }

    @Test("a dispute's amount is optional (nil = the invoice balance) and kept in cents")
    func disputeAmount() throws {
        let parsed = try parseCSV(.disputes, disputesHeader + "D1;F1;pricing;2025-02-01;\nD2;F2;quantity;01/02/2025;250,00\n")
        #expect(parsed.disputes.map(\.amountCents) == [nil, 25_000])
        #expect(try disputeMessages("D1;F1;Prix;2025-02-01;0") == ["disputes.csv:2: amount: must be greater than zero (\"0\")"])
        #expect(try disputeMessages("D1;F1;Prix;2025-02-01;deux cents") == ["disputes.csv:2: amount: not a number (\"deux cents\")"])
    }

    @Test("a dispute needs an invoice, a reason and an opening date")
    func disputeRequired() throws {
        #expect(try disputeMessages("D1; ;\"  \";;") == [
            "disputes.csv:2: invoice_id: required value is missing",
            "disputes.csv:2: reason: required value is missing",
            "disputes.csv:2: opened_on: required value is missing",
        ])
    }

    @Test("a note may span lines; the dispute keeps them")
    func multilineNote() throws {
        let parsed = try parseCSV(
            .disputes, "dispute_id;invoice_id;reason;opened_on;note\nD1;F1;quality;2025-02-04;\"Marchandise abîmée\nphotos envoyées le 3/2\"\n")
        #expect(parsed.disputes.map(\.note) == ["Marchandise abîmée\nphotos envoyées le 3/2"])
        #expect(parsed.disputes.map(\.openedOn) == [day("2025-02-04")])
    }

    @Test("a reason is one of six codes, or its French name; anything else is refused naming the codes")
    func reasonCodes() throws {
        let rows = ["pricing", "QUALITY", "quantité", "non reçu", "Doublon", "autre", "not-received", " duplicate_billing "]
        let parsed = try parseCSV(.disputes, disputesHeader + rows.enumerated().map { "D\($0.offset);F1;\($0.element);2025-02-01;" }.joined(separator: "\n") + "\n")
        #expect(parsed.messages == [])
        #expect(parsed.disputes.map(\.reason) == [.pricing, .quality, .quantity, .notReceived, .duplicateBilling, .other, .notReceived, .duplicateBilling])
        #expect(try disputeMessages("D1;F1;Marchandise abîmée;2025-02-01;") == [
            "disputes.csv:2: reason: unknown reason: expected one of pricing, quality, quantity, not_received, duplicate_billing, other (\"Marchandise abîmée\")"
        ])
    }

    @Test("a dispute_id repeated in the file names both lines")
    func duplicateDispute() throws {
        let parsed = try parseCSV(.disputes, disputesHeader + "D1;F1;pricing;2025-02-01;\nD1;F2;quality;2025-02-02;\n")
        #expect(parsed.messages == ["disputes.csv:3: dispute_id: duplicate of line 2 (\"D1\")"])
        #expect(parsed.disputes.map(\.invoiceID) == ["F1"])
    }
}
