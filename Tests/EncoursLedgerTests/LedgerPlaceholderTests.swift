import Testing
@testable import EncoursLedger
