// EncoursLedger: the receivables rules that need no database.
//
// - Money and CurrencyCode: integer cents and ISO 4217 codes; decimal parsing as ERPs export
//   amounts; rounding half away from zero (SPEC §1).
// - CalendarDate: calendar days without time zone; ISO and French forms; day arithmetic.
// - ImportParser: streaming, validating reader of the four CSV import files (SPEC §4), producing
//   typed rows and `FILE:LINE: FIELD: problem ("value")` issues.
// - LedgerError: the module's one error type.
//
// No type is named EncoursLedger on purpose: a type named like its module breaks
// module-qualified names such as `EncoursLedger.Money`.
