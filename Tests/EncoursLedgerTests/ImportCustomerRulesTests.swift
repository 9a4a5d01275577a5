import Testing
@testable import EncoursLedger

/// One test per rule of the customers file (SPEC §4), asserting the exact message and line.
@Suite("Import: customers rules")
struct ImportCustomerRulesTests {
    private let header = "customer_id;name;email;language;payment_terms_days;credit_limit;policy;on_hold\n"
    private let goodRow = "C0;Client de référence;;;;;;\n"

    /// Parses the header, one good row on line 2, then `row` on line 3.
    private func messages(_ row: String) throws -> [String] {
        let parsed = try parseCSV(.customers, header + goodRow + row + "\n")
        #expect(parsed.customers.first?.customerID == "C0")
        return parsed.messages
    }

    @Test("customer_id is required")
    func customerIDRequired() throws {
        #expect(try messages(" ;Dupont;;;;;;") == ["customers.csv:3: customer_id: required value is missing"])
    }

    @Test("customer_id has at most 64 characters (counted as characters, not bytes)")
    func customerIDLength() throws {
        let longID = String(repeating: "X", count: 65)
        #expect(try messages("\(longID);Dupont;;;;;;") == [
            "customers.csv:3: customer_id: longer than 64 characters (\"\(longID)\")",
        ])
        let accented = String(repeating: "é", count: 64)
        #expect(try messages("\(accented);Dupont;;;;;;") == [])
    }

    @Test("an id cannot hold a line break")
    func customerIDControlCharacters() throws {
        #expect(try messages("\"C\nX\";Dupont;;;;;;") == [
            "customers.csv:3: customer_id: contains a line break or control character (\"C\\nX\")",
        ])
    }

    @Test("name is required")
    func nameRequired() throws {
        #expect(try messages("C1;\u{00A0};;;;;;") == ["customers.csv:3: name: required value is missing"])
    }

    @Test("email, when given, is one address", arguments: [
        "jean.dupont@", "compta.dupont.fr", "a@b", "\"a@b.fr; c@d.fr\"", "jean dupont@dupont.fr", "a@@dupont.fr",
        ".jean@dupont.fr", "jean..dupont@dupont.fr", "jean@-dupont.fr", "jean@dupont..fr",
    ])
    func invalidEmail(email: String) throws {
        let shown = email.hasPrefix("\"") ? String(email.dropFirst().dropLast()) : email
        #expect(try messages("C1;Dupont;\(email);;;;;") == [
            "customers.csv:3: email: not an email address (one address such as compta@example.fr) (\"\(shown)\")",
        ])
    }

    @Test("valid email addresses are kept", arguments: ["compta@dupont.fr", "j.dupont+relances@sous.domaine.example.com", "facturation@société.fr"])
    func validEmail(email: String) throws {
        let parsed = try parseCSV(.customers, header + "C1;Dupont;\(email);;;;;\n")
        #expect(parsed.customers.map(\.email) == [email])
    }

    @Test("language is fr or en, in any case, fr by default")
    func language() throws {
        #expect(try messages("C1;Dupont;;de;;;;") == ["customers.csv:3: language: must be fr or en (\"de\")"])
        let parsed = try parseCSV(.customers, header + "C1;A;;EN;;;;\nC2;B;;;;;;\nC3;C;;Fr;;;;\n")
        #expect(parsed.customers.map(\.language) == [.en, .fr, .fr])
        let withoutColumn = try parseCSV(.customers, "customer_id;name\nC1;A\n")
        #expect(withoutColumn.customers.map(\.language) == [.fr])
    }

    @Test("payment_terms_days is a whole number from 0 to 365")
    func paymentTerms() throws {
        #expect(try messages("C1;Dupont;;;366;;;") == ["customers.csv:3: payment_terms_days: must be between 0 and 365 (\"366\")"])
        #expect(try messages("C1;Dupont;;;30j;;;") == ["customers.csv:3: payment_terms_days: not a whole number of days (\"30j\")"])
        #expect(try messages("C1;Dupont;;;-5;;;") == ["customers.csv:3: payment_terms_days: not a whole number of days (\"-5\")"])
        #expect(try messages("C1;Dupont;;;99999999999999999999;;;") == [
            "customers.csv:3: payment_terms_days: must be between 0 and 365 (\"99999999999999999999\")",
        ])
        let parsed = try parseCSV(.customers, header + "C1;A;;;0;;;\nC2;B;;;365;;;\nC3;C;;;;;;\n")
        #expect(parsed.customers.map(\.paymentTermsDays) == [0, 365, nil])
    }

    @Test("credit_limit is an amount ≥ 0 in the tenant's currency")
    func creditLimit() throws {
        #expect(try messages("C1;Dupont;;;;-100;;") == ["customers.csv:3: credit_limit: must not be negative (\"-100\")"])
        #expect(try messages("C1;Dupont;;;;beaucoup;;") == ["customers.csv:3: credit_limit: not a number (\"beaucoup\")"])
        let parsed = try parseCSV(.customers, header + "C1;A;;;;0;;\nC2;B;;;;1\u{00A0}500\u{00A0}000,00;;\n", currency: .gbp)
        #expect(parsed.customers.map(\.creditLimit) == [Money(cents: 0, currency: .gbp), Money(cents: 150_000_000, currency: .gbp)])
    }

    @Test("policy is a short name")
    func policy() throws {
        let parsed = try parseCSV(.customers, header + "C1;A;;;;;strict;\n")
        #expect(parsed.customers.map(\.policy) == ["strict"])
        let longName = String(repeating: "p", count: 65)
        #expect(try messages("C1;Dupont;;;;;\(longName);") == ["customers.csv:3: policy: longer than 64 characters (\"\(longName)\")"])
    }

    @Test("on_hold accepts true/false, 1/0, yes/no, oui/non, vrai/faux in any case")
    func onHoldAccepted() throws {
        let values = ["true", "FALSE", "1", "0", "Yes", "no", "OUI", "non", "Vrai", "faux", ""]
        let rows = values.enumerated().map { "C\($0.offset);Client;;;;;;\($0.element)\n" }.joined()
        let parsed = try parseCSV(.customers, header + rows)
        #expect(parsed.messages == [])
        #expect(parsed.customers.map(\.onHold) == [true, false, true, false, true, false, true, false, true, false, false])
    }

    @Test("on_hold refuses anything else")
    func onHoldRefused() throws {
        #expect(try messages("C1;Dupont;;;;;;peut-être") == [
            "customers.csv:3: on_hold: must be true or false (1/0, yes/no, oui/non are accepted too) (\"peut-être\")",
        ])
    }

    @Test("a customer_id repeated in the file names both lines")
    func duplicateCustomer() throws {
        #expect(try messages("C0;Doublon;;;;;;") == ["customers.csv:3: customer_id: duplicate of line 2 (\"C0\")"])
    }

    @Test("every problem of a row is reported, and the row is not handed over")
    func allProblemsOfARow() throws {
        let parsed = try parseCSV(.customers, header + "C1;;pas-un-email;it;400;-1;;peut-être\nC2;Valide;;;;;;\n")
        #expect(parsed.messages == [
            "customers.csv:2: name: required value is missing",
            "customers.csv:2: email: not an email address (one address such as compta@example.fr) (\"pas-un-email\")",
            "customers.csv:2: language: must be fr or en (\"it\")",
            "customers.csv:2: payment_terms_days: must be between 0 and 365 (\"400\")",
            "customers.csv:2: credit_limit: must not be negative (\"-1\")",
            "customers.csv:2: on_hold: must be true or false (1/0, yes/no, oui/non are accepted too) (\"peut-être\")",
        ])
        #expect(parsed.customers.map(\.customerID) == ["C2"])
        #expect(parsed.summary.validRowCount == 1)
        #expect(parsed.summary.recordCount == 2)
        #expect(!parsed.summary.isValid)
    }
}
