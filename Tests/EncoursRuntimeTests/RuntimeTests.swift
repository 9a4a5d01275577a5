import EncoursPostgres
import EncoursRuntime
import Foundation
import Testing

@Suite("Executable runtime")
struct RuntimeTests {
    @Test("database errors become one actionable line, without SQLSTATE where the user can act")
    func errorMessages() {
        let unmigrated = PostgresError(code: .server, message: "relation \"encours.tenants\" does not exist", sqlState: "42P01")
        #expect(ErrorMessage.line(for: unmigrated).contains("run encours migrate first"))
        let noSchema = PostgresError(code: .server, message: "schema \"encours\" does not exist", sqlState: "3F000")
        #expect(ErrorMessage.line(for: noSchema).contains("run encours migrate"))
        let other = PostgresError(code: .server, message: "relation \"other\" does not exist", sqlState: "42P01")
        #expect(ErrorMessage.line(for: other).hasPrefix("database error:"))
        #expect(ErrorMessage.line(for: CancellationError()) == "interrupted")
        let lost = PostgresError(code: .connectionLost, message: "server closed the connection\nunexpectedly")
        #expect(!ErrorMessage.line(for: lost).contains("\n"))
        #expect(ErrorMessage.line(for: RuntimeError("a\nb")) == "a b")
    }

    @Test("the database URL comes from the flag, then ENCOURS_DATABASE_URL, then DATABASE_URL")
    func databaseURL() throws {
        #expect(try DatabaseURL.resolve(flag: "a", environment: ["ENCOURS_DATABASE_URL": "b", "DATABASE_URL": "c"]) == "a")
        #expect(try DatabaseURL.resolve(flag: nil, environment: ["ENCOURS_DATABASE_URL": "b", "DATABASE_URL": "c"]) == "b")
        #expect(try DatabaseURL.resolve(flag: "", environment: ["DATABASE_URL": "c"]) == "c")
        #expect(throws: RuntimeError.self) { try DatabaseURL.resolve(flag: nil, environment: [:]) }
    }

    @Test("work under Interruption.cancelOnSignal returns its value when no signal comes")
    func interruptionPassesValues() async throws {
        #expect(try await Interruption.cancelOnSignal { 42 } == 42)
        struct Failure: Error {}
        await #expect(throws: Failure.self) { try await Interruption.cancelOnSignal { () async throws -> Int in throw Failure() } }
    }
}
