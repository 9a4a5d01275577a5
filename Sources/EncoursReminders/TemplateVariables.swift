/// The names a reminder template can use, and the check that a template uses no other.
///
/// docs/reminders.md lists the same names (a test keeps them in step).
enum TemplateVariables {
    /// The document's variables, by name, with what each holds.
    static let document: [(name: String, meaning: String)] = [
        ("reminder_id", "the reminder's number (its reference)"),
        ("template", "the template's name (friendly, firm, formal_notice, collection_handoff or the tenant's)"),
        ("language", "fr or en"),
        ("level", "the dunning level, 1, 2, 3…"),
        ("as_of", "the reminder's date in full (30 avril 2025, 30 April 2025)"),
        ("as_of_short", "the reminder's date, short (30/04/2025, 2025-04-30)"),
        ("currency", "the ISO code of the currency (EUR)"),
        ("creditor_name", "the tenant's name"),
        ("creditor_email", "the tenant's sender address (absent when unknown)"),
        ("creditor_id", "the tenant's slug (absent when unknown)"),
        ("creditor_address", "the tenant's postal address, a list of lines: {{#creditor_address}}{{.}}{{/creditor_address}}"),
        ("customer_name", "the customer's name"),
        ("customer_email", "the customer's address (absent when unknown)"),
        ("customer_id", "the customer's id in the ledger (absent when unknown)"),
        ("customer_address", "the customer's postal address, a list of lines"),
        ("items", "the listed invoices, a list (see the item variables)"),
        ("invoice_count", "how many invoices are listed"),
        ("several", "true when more than one invoice is listed (for plurals)"),
        ("total_balance", "the sum of the balances, formatted"),
        ("total_interest", "the late-payment interest, formatted (0 when not charged)"),
        ("total_indemnity", "the recovery indemnities, formatted (0 when not charged)"),
        ("total_due", "balance + interest + indemnity, formatted"),
        ("has_penalties", "true when this level charges interest and indemnity"),
        ("margin_points", "the percentage points over the ECB rate (10; 8,5 in French)"),
        ("deadline", "the date by which to pay, in full"),
        ("deadline_short", "the date by which to pay, short"),
    ]

    /// The variables of each entry of `items`.
    static let item: [(name: String, meaning: String)] = [
        ("invoice_id", "the invoice number"),
        ("issue_date", "the issue date, short"),
        ("due_date", "the due date, short"),
        ("amount", "the invoice's amount, formatted"),
        ("balance", "what remains to be paid on it, formatted"),
        ("days_overdue", "days since the due date"),
        ("overdue", "true when days_overdue > 0"),
        ("level", "the dunning level the invoice has reached"),
        ("interest", "its late-payment interest, formatted"),
        ("indemnity", "its recovery indemnity, formatted"),
    ]

    static let documentNames = Set(document.map(\.name))
    static let itemNames = Set(item.map(\.name))

    /// Throws when `source` (which parses) names a variable or section reminders do not have, or a partial.
    ///
    /// Best effort, as Mustache resolves names at render time: a name counts as known when it is a
    /// document variable, or an item variable inside `{{#items}}`; transforms (`uppercased(name)`)
    /// are looked through; `{{.}}` is allowed inside a section. Set-delimiter tags are followed.
    static func check(_ source: String, place: String) throws(ReminderError) {
        var open = "{{"
        var close = "}}"
        var sections: [String] = []
        var index = source.startIndex
        var line = 1
        var counted = source.startIndex
        while let start = source[index...].firstRange(of: open) {
            line += source[counted..<start.lowerBound].reduce(0) { $0 + ($1.isNewline ? 1 : 0) }
            counted = start.lowerBound
            var contentStart = start.upperBound
            var closing = close
            if open == "{{", source[contentStart...].first == "{" {
                contentStart = source.index(after: contentStart)
                closing = "}" + close
            }
            guard let end = source[contentStart...].firstRange(of: closing) else { return }  // the parser has already refused it
            index = end.upperBound
            let tag = trimmed(source[contentStart..<end.lowerBound])
            func fail(_ code: ReminderError.Code, _ what: String) -> ReminderError {
                ReminderError(code, "template \(place), line \(line): \(what)")
            }
            /// Checks the name a tag uses, and returns it without transforms.
            @discardableResult
            func known(_ rawName: Substring) throws(ReminderError) -> Substring {
                var name = trimmed(rawName)
                // A transform, `uppercased(name)`: the name is the innermost argument.
                while let parenthesis = name.firstIndex(of: "("), let closing = name.lastIndex(of: ")"), parenthesis < closing {
                    name = trimmed(name[name.index(after: parenthesis)..<closing])
                }
                if name == "." {
                    guard !sections.isEmpty else { throw fail(.unknownVariable, "{{.}} outside a section") }
                    return name
                }
                // `.name` (no climbing) and `a.b` (a member): the first name decides.
                let first = name.split(separator: ".").first.map(String.init) ?? ""
                if documentNames.contains(first) { return name }
                if itemNames.contains(first) {
                    if sections.contains("items") { return name }
                    throw fail(.unknownVariable, "\(ReminderError.quoted(first)) is an item variable: use it inside {{#items}}…{{/items}}")
                }
                var message = "unknown variable \(ReminderError.quoted(name))"
                if let suggestion = closest(to: first, among: documentNames.union(sections.contains("items") ? itemNames : [])) {
                    message += " (did you mean \(suggestion)?)"
                }
                throw fail(.unknownVariable, message + "; the variables are listed in docs/reminders.md")
            }
            guard let kind = tag.first else { throw fail(.unknownVariable, "an empty tag") }
            let rest = tag.dropFirst()
            switch kind {
            case "!", "%":
                continue
            case "=":
                // `{{=<% %>=}}`: new delimiters from the next tag on.
                let parts = trimmed(rest.hasSuffix("=") ? rest.dropLast() : rest).split(whereSeparator: \.isWhitespace)
                guard parts.count == 2 else { return }
                open = String(parts[0])
                close = String(parts[1])
            case ">":
                throw fail(.unsupportedTag, "partials ({{> \(trimmed(rest))}}) are not supported: write the template out in full")
            case "<", "$":
                throw fail(.unsupportedTag, "template inheritance ({{\(kind)…}}) is not supported: write the template out in full")
            case "#", "^":
                let name = try known(rest)
                // Only an open `{{#items}}` brings the item variables in scope.
                sections.append((kind == "#" ? "" : "^") + name)
            case "/":
                _ = sections.popLast()
            case "&", "{":
                try known(rest.hasSuffix("}") ? rest.dropLast() : rest)
            default:
                try known(tag[...])
            }
        }
    }

    static func trimmed(_ text: Substring) -> Substring {
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text[start...].lastIndex { !$0.isWhitespace }.map { text.index(after: $0) } ?? start
        return text[start..<end]
    }

    /// The known name nearest to a misspelt one (at most two edits away), for a suggestion.
    static func closest(to name: String, among names: Set<String>) -> String? {
        guard name.count <= 40 else { return nil }
        let best = names.map { ($0, editDistance(Array(name), Array($0))) }.min { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let best, best.1 <= 2 else { return nil }
        return best.0
    }

    /// Levenshtein distance between two short strings.
    static func editDistance(_ left: [Character], _ right: [Character]) -> Int {
        if left.isEmpty { return right.count }
        var previous = Array(0...right.count)
        for (leftOffset, leftCharacter) in left.enumerated() {
            var current = [leftOffset + 1]
            for (rightOffset, rightCharacter) in right.enumerated() {
                let substitution = previous[rightOffset] + (leftCharacter == rightCharacter ? 0 : 1)
                current.append(min(previous[rightOffset + 1] + 1, current[rightOffset] + 1, substitution))
            }
            previous = current
        }
        return previous[right.count]
    }
}
