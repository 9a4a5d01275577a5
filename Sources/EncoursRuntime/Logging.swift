import Foundation
import Logging

/// Writes each log record as one JSON object per line on stderr (`--log-format json`).
///
/// Every record carries the logger's metadata and its metadata provider's (the worker's
/// provider adds `job.id`, `job.kind` and `tenant.id` to everything a job logs).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [
            "ts": Date().formatted(.iso8601), "level": event.level.rawValue, "msg": "\(event.message)", "logger": label,
        ]
        for (key, value) in metadata { fields[key] = "\(value)" }
        for (key, value) in metadataProvider?.get() ?? [:] { fields[key] = "\(value)" }
        for (key, value) in event.metadata ?? [:] { fields[key] = "\(value)" }
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
}

/// Sets up swift-log for an executable: `text` (human-readable) or `json` lines on stderr.
public enum LogSetup {
    /// The formats `--log-format` accepts.
    public static let formats = ["text", "json"]

    /// Bootstraps the logging system once per process.
    public static func bootstrap(format: String, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = format == "json" ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
