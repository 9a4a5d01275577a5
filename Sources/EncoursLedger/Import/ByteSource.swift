import Foundation

/// Something the CSV tokenizer can pull bytes from, a chunk at a time.
protocol ByteSource {
    /// Copies up to `capacity` bytes into `buffer` and returns how many; 0 means the end of the input.
    mutating func read(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int) throws(LedgerError) -> Int
}

/// Bytes read from a Foundation `InputStream`, which is opened if needed and left open.
struct StreamByteSource: ByteSource {
    /// The stream read from.
    let stream: InputStream
    /// The name used in error messages.
    let fileName: String

    /// Wraps `stream`, opening it when it is not open yet; `unreadableInput` when it cannot be opened.
    init(stream: InputStream, fileName: String) throws(LedgerError) {
        if stream.streamStatus == .notOpen {
            stream.open()
        }
        guard stream.streamStatus != .error && stream.streamStatus != .closed else {
            throw LedgerError(.unreadableInput, "cannot open \(fileName): \(StreamByteSource.reason(stream))")
        }
        self.stream = stream
        self.fileName = fileName
    }

    mutating func read(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int) throws(LedgerError) -> Int {
        if stream.streamStatus == .atEnd { return 0 }
        let count = stream.read(buffer, maxLength: capacity)
        guard count >= 0 else {
            throw LedgerError(.unreadableInput, "cannot read \(fileName): \(StreamByteSource.reason(stream))")
        }
        return count
    }

    private static func reason(_ stream: InputStream) -> String {
        stream.streamError.map { String(describing: $0.localizedDescription) } ?? "unknown stream error"
    }
}

/// Bytes held in memory, such as a `Data` value.
struct DataByteSource: ByteSource {
    /// The bytes read from.
    let data: Data
    /// How many bytes were already handed out.
    private var offset: Int

    /// Reads `data` from its start.
    init(data: Data) {
        self.data = data
        self.offset = data.startIndex
    }

    mutating func read(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int) throws(LedgerError) -> Int {
        let count = min(capacity, data.endIndex - offset)
        guard count > 0 else { return 0 }
        data.copyBytes(to: buffer, from: offset..<(offset + count))
        offset += count
        return count
    }
}

/// Bytes read from a `FileHandle` (a file, a pipe, standard input), which is left open.
struct FileHandleByteSource: ByteSource {
    /// The handle read from.
    let handle: FileHandle
    /// The name used in error messages.
    let fileName: String

    mutating func read(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int) throws(LedgerError) -> Int {
        let data: Data?
        do {
            data = try handle.read(upToCount: capacity)
        } catch {
            throw LedgerError(.unreadableInput, "cannot read \(fileName): \(FileHandleByteSource.reason(error))")
        }
        guard let data, !data.isEmpty else { return 0 }
        data.copyBytes(to: buffer, count: data.count)
        return data.count
    }

    /// A short reason for a file error: "no such file", "permission denied", or the system's text.
    static func reason(_ error: any Error) -> String {
        if let cocoaError = error as? CocoaError {
            switch cocoaError.code {
            case .fileReadNoSuchFile, .fileNoSuchFile: return "no such file"
            case .fileReadNoPermission: return "permission denied"
            default: break
            }
        }
        if let posixError = error as? POSIXError {
            switch posixError.code {
            case .ENOENT: return "no such file"
            case .EACCES: return "permission denied"
            case .EISDIR: return "is a directory"
            default: break
            }
        }
        return error.localizedDescription
    }
}
