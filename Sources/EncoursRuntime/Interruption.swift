import Foundation
import UnixSignals

/// Runs a command's work so that SIGINT or SIGTERM cancels it instead of killing the process.
///
/// The work's task is cancelled; a `PostgresSession` then cancels the statement it is running
/// on the server (`PQcancel`) and the transaction rolls back, so an interrupted
/// `enqueue --count 1000000` or import leaves nothing behind, on the client or the server.
public enum Interruption {
    /// Runs `operation`; throws `CancellationError` when a signal arrived first.
    public static func cancelOnSignal<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                for await _ in signals { return nil }
                return nil
            }
            defer { group.cancelAll() }
            if let value = try await group.next() ?? nil { return value }
            // A signal: stop the work, and report what it did (it may have finished meanwhile).
            group.cancelAll()
            do {
                if let value = try await group.next() ?? nil { return value }
            } catch {
                throw CancellationError()
            }
            throw CancellationError()
        }
    }
}

/// Checks on the raw command line, before argument parsing turns bytes into strings.
public enum CommandLineCheck {
    /// The 1-based position of the first argument that is not valid UTF-8, if any.
    ///
    /// Swift repairs invalid UTF-8 in `CommandLine.arguments` with U+FFFD, which would silently
    /// alter a payload or a name; the executables refuse such arguments instead.
    public static func firstInvalidUTF8Argument() -> Int? {
        for index in 1..<Int(CommandLine.argc) {
            guard let pointer = CommandLine.unsafeArgv[index] else { continue }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer))
            if String(validating: bytes, as: UTF8.self) == nil { return index }
        }
        return nil
    }
}
