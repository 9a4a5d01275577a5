import EncoursPostgres
import Foundation

/// A progress line on standard error, redrawn in place at most five times a second, and only
/// when standard error is a terminal (never in pipes, logs or CI, never with `--json`).
final class ProgressLine: @unchecked Sendable {
    private let label: String
    private let enabled: Bool
    private let started = ContinuousClock.now
    private let lock = NSLock()
    private var lastDrawn: ContinuousClock.Instant?
    private var drawn = false

    /// A line starting with `label` (e.g. `importing invoices.csv`); off unless stderr is a TTY and `json` is false.
    init(_ label: String, json: Bool = false) {
        self.label = label
        enabled = !json && isatty(STDERR_FILENO) == 1
    }

    /// `done` of `total` (when known) `unit`s: count, rate, share and an estimate of the time left.
    func update(done: Int, total: Int?, unit: String) {
        guard enabled else { return }
        let seconds = (ContinuousClock.now - started).inSeconds
        var parts = ["\(Self.grouped(done)) \(unit)"]
        if seconds > 0.2 { parts.append("\(Self.grouped(Int(Double(done) / seconds))) \(unit)/s") }
        if let total, total > 0, done > 0 {
            parts.append("\(min(99, done * 100 / total)) %")
            if seconds > 1, total > done { parts.append("about \(Self.duration(seconds * Double(total - done) / Double(done))) left") }
        }
        draw(parts.joined(separator: " · "))
    }

    /// A state and the time spent, for `--wait`.
    func update(state: String) {
        guard enabled else { return }
        draw("\(state) · \(Self.duration((ContinuousClock.now - started).inSeconds.rounded(.down)))")
    }

    /// Clears the line (what follows is printed on a clean line).
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }

    private func draw(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        if let lastDrawn, now - lastDrawn < .milliseconds(200) { return }
        lastDrawn = now
        drawn = true
        FileHandle.standardError.write(Data("\r\u{1B}[K\(label): \(text)".utf8))
    }

    /// 1234567 → `1,234,567`.
    static func grouped(_ number: Int) -> String {
        let digits = String(abs(number))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (number < 0 ? "-" : "") + out
    }

    /// 75 → `1 min 15 s`.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole < 60 ? "\(whole) s" : "\(whole / 60) min \(whole % 60) s"
    }

    /// An estimate of a CSV file's rows: its size times the line density of its first 64 KiB.
    static func estimatedRows(ofFile path: String) -> Int? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > 0,
              let sample = try? handle.read(upToCount: 65_536), !sample.isEmpty
        else { return nil }
        let lines = sample.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        guard lines > 0 else { return nil }
        return max(1, Int(Double(size) * Double(lines) / Double(sample.count)) - 1)
    }
}
