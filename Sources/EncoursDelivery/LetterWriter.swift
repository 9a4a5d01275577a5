import Foundation

#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Writes printable letters (HTML documents) into an outbox directory, for printing and posting.
///
/// Each letter is written atomically: the bytes go to a hidden temporary file in the same
/// directory, are flushed to disk, and the file is renamed to its name. A reader never sees a
/// half-written letter, and a retry under the same name replaces the earlier file. The directory
/// is created when missing.
///
/// Errors: an invalid file name is ``DeliveryError/Code/invalidMessage``; every I/O failure
/// (full disk, read-only or missing volume, permissions) is ``DeliveryError/Code/temporary``,
/// since an operator can fix it and a retry writes the same file again. The calls block briefly
/// on file I/O.
public struct LetterWriter: Sendable {
    /// The outbox directory.
    public let directory: String

    /// A writer into `directory` (the executable reads it from `ENCOURS_OUTBOX_DIR`).
    public init(directory: String) {
        self.directory = directory
    }

    /// Writes `html` as UTF-8 under `fileName` and returns the file's path.
    @discardableResult
    public func write(html: String, fileName: String) throws(DeliveryError) -> String {
        try write(bytes: Array(html.utf8), fileName: fileName)
    }

    /// Writes `bytes` under `fileName` and returns the file's path.
    @discardableResult
    public func write(bytes: [UInt8], fileName: String) throws(DeliveryError) -> String {
        try Self.validate(fileName: fileName)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DeliveryError(code: .temporary, message: "cannot create the letter outbox \(directory): \(error.localizedDescription)")
        }
        let path = (directory as NSString).appendingPathComponent(fileName)
        let temporaryPath = (directory as NSString).appendingPathComponent(".\(fileName).\(UUID().uuidString).tmp")

        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Self.systemError("cannot create", temporaryPath) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                systemWrite(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                let error = Self.systemError("cannot write", temporaryPath)
                close(descriptor)
                unlink(temporaryPath)
                throw error
            }
            written += result
        }
        if fsync(descriptor) != 0 {
            let error = Self.systemError("cannot flush", temporaryPath)
            close(descriptor)
            unlink(temporaryPath)
            throw error
        }
        if close(descriptor) != 0 {
            let error = Self.systemError("cannot close", temporaryPath)
            unlink(temporaryPath)
            throw error
        }
        if rename(temporaryPath, path) != 0 {
            let error = Self.systemError("cannot rename into", path)
            unlink(temporaryPath)
            throw error
        }
        // Make the rename itself durable; a failure here leaves a complete file, so it is ignored.
        let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        return path
    }

    /// Refuses a file name that is empty, longer than 200 bytes, starts with a dot, contains
    /// `..`, or has a character other than `A-Z a-z 0-9 . _ -` (so no path separator).
    public static func validate(fileName: String) throws(DeliveryError) {
        let allowed = fileName.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard !fileName.isEmpty, fileName.utf8.count <= 200, allowed, !fileName.hasPrefix("."), !fileName.contains("..")
        else {
            throw DeliveryError(
                code: .invalidMessage,
                message: "invalid letter file name \(MIME.quoted(fileName)): use 1 to 200 of A-Z a-z 0-9 . _ -, not starting with a dot, without ..")
        }
    }

    /// The error for the failed system call that set `errno`.
    private static func systemError(_ action: String, _ path: String) -> DeliveryError {
        let number = errno
        return DeliveryError(code: .temporary, message: "letter \(action) \(path): \(String(cString: strerror(number))) (errno \(number))")
    }
}
