/// Reads the typed values of one record, collecting an issue for every value that is wrong.
///
/// Each accessor returns nil when the value is absent or wrong; in the second case it has recorded
/// an issue, so a row is valid exactly when ``issues`` is empty at the end.
struct RowReader {
    let record: RecordView
    /// For each ``ImportColumn`` (by raw value), its field index in the file, or -1.
    let positions: [Int]
    let fileName: String
    let defaultCurrency: CurrencyCode
    /// The problems found in this row so far.
    private(set) var issues: [ImportIssue] = []
    /// The row's id, once read and valid.
    private(set) var rowID: String?

    init(record: RecordView, positions: [Int], fileName: String, defaultCurrency: CurrencyCode) {
        self.record = record
        self.positions = positions
        self.fileName = fileName
        self.defaultCurrency = defaultCurrency
    }

    // MARK: Rows of each kind

    mutating func customer() -> CustomerRow? {
        let customerID = requiredID(.customerID)
        rowID = customerID
        let name = requiredText(.name)
        let email = optionalEmail(.email)
        let language = optionalLanguage(.language)
        let terms = optionalInteger(.paymentTermsDays, in: 0...365, unit: "days")
        let creditLimit = optionalCents(.creditLimit, allowsZero: true)
        let policy = optionalName(.policy)
        let onHold = optionalBoolean(.onHold)
        guard issues.isEmpty, let customerID, let name else { return nil }
        return CustomerRow(
            line: record.line, customerID: customerID, name: name, email: email, language: language ?? .fr,
            paymentTermsDays: terms, creditLimit: creditLimit.map { Money(cents: $0, currency: defaultCurrency) },
            policy: policy, onHold: onHold ?? false)
    }

    mutating func invoice() -> InvoiceRow? {
        let invoiceID = requiredID(.invoiceID)
        rowID = invoiceID
        let customerID = requiredID(.customerID)
        let issueDate = requiredDate(.issueDate)
        let dueDate = requiredDate(.dueDate)
        if let issueDate, let dueDate, dueDate < issueDate {
            report(.dueDate, .inconsistentRow, "is before issue_date (\(issueDate))", value: text(.dueDate))
        }
        let isCreditNote: Bool
        var kindIsValid = true
        switch bytes(.kind).map({ String(decoding: $0, as: UTF8.self).lowercased() }) {
        case nil, "invoice":
            isCreditNote = false
        case "credit_note":
            isCreditNote = true
        default:
            report(.kind, .invalidValue, "must be invoice or credit_note", value: text(.kind))
            isCreditNote = false
            kindIsValid = false
        }
        let amount = requiredPositiveCents(.amount, hint: isCreditNote ? " (a credit note's amount is positive)" : "")
        let currency = optionalCurrency(.currency)
        let appliesTo = optionalID(.appliesTo)
        var kind = InvoiceKind.invoice
        if isCreditNote {
            if let appliesTo {
                if appliesTo == invoiceID {
                    report(.appliesTo, .inconsistentRow, "a credit note cannot apply to itself", value: appliesTo)
                }
                kind = .creditNote(appliesTo: appliesTo)
            } else if bytes(.appliesTo) == nil {
                report(.appliesTo, .missingValue, "required for a credit note: the invoice it reduces", value: nil)
            }
        } else if kindIsValid, bytes(.appliesTo) != nil {
            report(
                .appliesTo, .inconsistentRow, "only a credit note applies to another invoice (kind is invoice)",
                value: text(.appliesTo))
        }
        guard issues.isEmpty, let invoiceID, let customerID, let issueDate, let dueDate, let amount else {
            return nil
        }
        return InvoiceRow(
            line: record.line, invoiceID: invoiceID, customerID: customerID, issueDate: issueDate,
            dueDate: dueDate, amount: Money(cents: amount, currency: currency ?? defaultCurrency), kind: kind)
    }

    mutating func payment() -> PaymentRow? {
        let paymentID = requiredID(.paymentID)
        rowID = paymentID
        let customerID = requiredID(.customerID)
        let receivedOn = requiredDate(.receivedOn)
        let amount = requiredPositiveCents(.amount, hint: "")
        let invoiceID = optionalID(.invoiceID)
        let currency = optionalCurrency(.currency)
        guard issues.isEmpty, let paymentID, let customerID, let receivedOn, let amount else { return nil }
        return PaymentRow(
            line: record.line, paymentID: paymentID, customerID: customerID, receivedOn: receivedOn,
            amount: Money(cents: amount, currency: currency ?? defaultCurrency), invoiceID: invoiceID)
    }

    mutating func dispute() -> DisputeRow? {
        let disputeID = requiredID(.disputeID)
        rowID = disputeID
        let invoiceID = requiredID(.invoiceID)
        let reason = requiredReason(.reason)
        let openedOn = requiredDate(.openedOn)
        let amount = optionalPositiveCents(.amount)
        let note = optionalNote(.note)
        guard issues.isEmpty, let disputeID, let invoiceID, let reason, let openedOn else { return nil }
        return DisputeRow(
            line: record.line, disputeID: disputeID, invoiceID: invoiceID, reason: reason, openedOn: openedOn,
            amountCents: amount, note: note)
    }

    // MARK: Raw access and reporting

    /// The trimmed bytes of `column`, or nil when the file has no such column or the value is empty.
    func bytes(_ column: ImportColumn) -> UnsafeBufferPointer<UInt8>? {
        let index = positions[column.rawValue]
        guard index >= 0 else { return nil }
        let value = TextBytes.trimmed(record.field(index))
        return value.isEmpty ? nil : value
    }

    /// The trimmed value of `column` as text, or nil when absent or empty.
    func text(_ column: ImportColumn) -> String? {
        bytes(column).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Records a problem with `column` on this row.
    mutating func report(_ column: ImportColumn, _ code: LedgerError.Code, _ message: String, value: String?) {
        issues.append(
            ImportIssue(file: fileName, line: record.line, field: column.name, value: value, code: code, message: message))
    }

    /// Records a ``LedgerError`` raised while reading `column`.
    mutating func report(_ column: ImportColumn, _ error: LedgerError) {
        issues.append(ImportIssue(file: fileName, line: record.line, field: column.name, error: error))
    }

    // MARK: Typed values

    /// A required id: 1 to 64 characters, no control character.
    mutating func requiredID(_ column: ImportColumn) -> String? {
        guard let value = bytes(column) else {
            report(column, .missingValue, "required value is missing", value: nil)
            return nil
        }
        return checkedID(column, value)
    }

    /// An optional id; nil when absent or empty.
    mutating func optionalID(_ column: ImportColumn) -> String? {
        guard let value = bytes(column) else { return nil }
        return checkedID(column, value)
    }

    /// A short name (policy): same rules as an id.
    mutating func optionalName(_ column: ImportColumn) -> String? {
        optionalID(column)
    }

    private mutating func checkedID(_ column: ImportColumn, _ value: UnsafeBufferPointer<UInt8>) -> String? {
        let text = String(decoding: value, as: UTF8.self)
        if value.contains(where: { $0 < 0x20 || $0 == 0x7F }) || text.unicodeScalars.contains(where: { (0x80...0x9F).contains($0.value) }) {
            report(column, .invalidValue, "contains a line break or control character", value: text)
            return nil
        }
        if value.count > ImportParser.maximumIDLength && TextBytes.scalarCount(value) > ImportParser.maximumIDLength {
            report(column, .valueOutOfRange, "longer than \(ImportParser.maximumIDLength) characters", value: text)
            return nil
        }
        return text
    }

    /// Required free text (name, reason).
    mutating func requiredText(_ column: ImportColumn) -> String? {
        guard let value = bytes(column) else {
            report(column, .missingValue, "required value is missing", value: nil)
            return nil
        }
        return String(decoding: value, as: UTF8.self)
    }

    /// A required dispute reason code (or its French name).
    mutating func requiredReason(_ column: ImportColumn) -> DisputeReason? {
        guard let text = requiredText(column) else { return nil }
        guard let reason = DisputeReason(code: text) else {
            report(column, .invalidValue, "unknown reason: expected one of \(DisputeReason.codeList)", value: text)
            return nil
        }
        return reason
    }

    /// Optional free text of at most ``DisputeNote/maximumLength`` characters (line breaks allowed).
    mutating func optionalNote(_ column: ImportColumn) -> String? {
        guard let value = bytes(column) else { return nil }
        if value.count > DisputeNote.maximumLength && TextBytes.scalarCount(value) > DisputeNote.maximumLength {
            report(column, .valueOutOfRange, "longer than \(DisputeNote.maximumLength) characters", value: nil)
            return nil
        }
        return String(decoding: value, as: UTF8.self)
    }

    /// A required date in years 1900–2999.
    mutating func requiredDate(_ column: ImportColumn) -> CalendarDate? {
        guard let value = bytes(column) else {
            report(column, .missingValue, "required value is missing", value: nil)
            return nil
        }
        do {
            let date = try CalendarDate.parse(value)
            guard ImportParser.acceptedYears.contains(date.year) else {
                report(
                    column, .valueOutOfRange,
                    "year outside \(ImportParser.acceptedYears.lowerBound)–\(ImportParser.acceptedYears.upperBound)",
                    value: String(decoding: value, as: UTF8.self))
                return nil
            }
            return date
        } catch {
            report(column, error)
            return nil
        }
    }

    /// A required amount in cents, > 0.
    mutating func requiredPositiveCents(_ column: ImportColumn, hint: String) -> Int64? {
        guard bytes(column) != nil else {
            report(column, .missingValue, "required value is missing", value: nil)
            return nil
        }
        guard let cents = optionalCents(column, allowsZero: false, hint: hint) else { return nil }
        return cents
    }

    /// An optional amount in cents, > 0.
    mutating func optionalPositiveCents(_ column: ImportColumn) -> Int64? {
        optionalCents(column, allowsZero: false)
    }

    /// An optional amount in cents, > 0 or, when `allowsZero`, ≥ 0.
    mutating func optionalCents(_ column: ImportColumn, allowsZero: Bool, hint: String = "") -> Int64? {
        guard let value = bytes(column) else { return nil }
        let cents: Int64
        do {
            cents = try DecimalParser.cents(value)
        } catch {
            report(column, error)
            return nil
        }
        if allowsZero ? cents < 0 : cents <= 0 {
            report(
                column, .valueOutOfRange, (allowsZero ? "must not be negative" : "must be greater than zero") + hint,
                value: String(decoding: value, as: UTF8.self))
            return nil
        }
        if cents > Money.maximumRowCents {
            report(
                column, .valueOutOfRange, "too large: the most one row may hold is \(Money.decimalString(cents: Money.maximumRowCents))",
                value: String(decoding: value, as: UTF8.self))
            return nil
        }
        return cents
    }

    /// An optional currency code (three letters, any case); nil when absent or empty.
    mutating func optionalCurrency(_ column: ImportColumn) -> CurrencyCode? {
        guard let value = bytes(column) else { return nil }
        if defaultCurrency.code.utf8.elementsEqual(value) {
            return defaultCurrency
        }
        guard let code = CurrencyCode.lenient(value) else {
            report(
                column, .invalidValue, "not a currency code (three letters such as EUR)",
                value: String(decoding: value, as: UTF8.self))
            return nil
        }
        return code
    }

    /// An optional language: `fr` or `en`, any case.
    mutating func optionalLanguage(_ column: ImportColumn) -> CustomerLanguage? {
        guard let value = bytes(column) else { return nil }
        let text = String(decoding: value, as: UTF8.self)
        guard let language = CustomerLanguage(rawValue: text.lowercased()) else {
            report(column, .invalidValue, "must be fr or en", value: text)
            return nil
        }
        return language
    }

    /// An optional yes/no value: true/false, 1/0, yes/no, oui/non, vrai/faux, in any case.
    mutating func optionalBoolean(_ column: ImportColumn) -> Bool? {
        guard let value = bytes(column) else { return nil }
        let text = String(decoding: value, as: UTF8.self)
        switch text.lowercased() {
        case "true", "1", "yes", "oui", "vrai": return true
        case "false", "0", "no", "non", "faux": return false
        default:
            report(column, .invalidValue, "must be true or false (1/0, yes/no, oui/non are accepted too)", value: text)
            return nil
        }
    }

    /// An optional whole number in `range`.
    mutating func optionalInteger(_ column: ImportColumn, in range: ClosedRange<Int>, unit: String) -> Int? {
        guard let value = bytes(column) else { return nil }
        let text = String(decoding: value, as: UTF8.self)
        guard value.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }) else {
            report(column, .invalidValue, "not a whole number of \(unit)", value: text)
            return nil
        }
        guard value.count <= 9, let number = Int(text), range.contains(number) else {
            report(column, .valueOutOfRange, "must be between \(range.lowerBound) and \(range.upperBound)", value: text)
            return nil
        }
        return number
    }

    /// An optional email address: one `@`, a local part, a domain with a dot, no space or comma.
    mutating func optionalEmail(_ column: ImportColumn) -> String? {
        guard let value = bytes(column) else { return nil }
        let text = String(decoding: value, as: UTF8.self)
        guard RowReader.isEmailAddress(value) else {
            report(column, .invalidValue, "not an email address (one address such as compta@example.fr)", value: text)
            return nil
        }
        return text
    }

    /// A deliberately simple check of an address's shape, refusing what is surely wrong
    /// (two addresses in one cell, spaces, a missing domain) and accepting international domains.
    static func isEmailAddress(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        guard !local.isEmpty, local.count <= 64, domain.count >= 3 else { return false }
        let forbidden: Set<UInt8> = [
            UInt8(ascii: " "), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "<"), UInt8(ascii: ">"),
            UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "\\"),
            UInt8(ascii: "\""), UInt8(ascii: ":"), UInt8(ascii: "@"),
        ]
        for byte in bytes[..<at] where byte < 0x21 || byte == 0x7F || forbidden.contains(byte) {
            return false
        }
        for byte in domain where byte < 0x21 || byte == 0x7F || forbidden.contains(byte) {
            return false
        }
        let dot = UInt8(ascii: ".")
        guard local.first != dot, local.last != dot, !containsDoubleDot(local) else { return false }
        let labels = domain.split(separator: dot, omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard !label.isEmpty, label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else {
                return false
            }
        }
        return true
    }

    private static func containsDoubleDot(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var previousWasDot = false
        for byte in bytes {
            let isDot = byte == UInt8(ascii: ".")
            if isDot && previousWasDot { return true }
            previousWasDot = isDot
        }
        return false
    }
}
