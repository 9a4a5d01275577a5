import Crypto
import Foundation

/// The `Encours-Signature` header that lets a webhook receiver check a request came from us.
///
/// The value is `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC computed with the shared
/// secret (its UTF-8 bytes) over `<t>.<body>`: the timestamp, a dot, then the exact body bytes.
/// Signing the timestamp lets the receiver refuse replays of old requests.
public enum WebhookSignature {
    /// The name of the header carrying the signature.
    public static let headerName = "Encours-Signature"

    /// The header value for `body` signed with `secret` at `timestamp`.
    public static func sign(body: [UInt8], secret: String, timestamp: Date) -> String {
        let seconds = unixSeconds(timestamp)
        let code = HMAC<SHA256>.authenticationCode(for: signedBytes(seconds, body), using: key(secret))
        return "t=\(seconds),v1=\(MIME.hex(code))"
    }

    /// Whether `header` is a valid signature of `body` under `secret`, made no more than
    /// `tolerance` away from `now` (in either direction).
    ///
    /// Several `v1=` entries are accepted (any may match, for secret rotation); the comparison
    /// is constant-time (swift-crypto's `isValidAuthenticationCode`).
    public static func verify(
        header: String, body: [UInt8], secret: String, now: Date = Date(), tolerance: Duration = .seconds(300)
    ) -> Bool {
        var timestamp: Int?
        var signatures: [[UInt8]] = []
        for item in header.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { return false }
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            switch name {
            case "t":
                guard timestamp == nil, value.allSatisfy(\.isASCII), let seconds = Int(value) else { return false }
                timestamp = seconds
            case "v1":
                guard let bytes = hexBytes(value), bytes.count == SHA256.byteCount else { continue }
                signatures.append(bytes)
            default:
                continue  // Later schemes (v2=...) are ignored.
            }
        }
        guard let timestamp, !signatures.isEmpty else { return false }
        let age = abs(Double(unixSeconds(now)) - Double(timestamp))
        let (seconds, attoseconds) = tolerance.components
        guard age <= Double(seconds) + Double(attoseconds) / 1e18 else { return false }
        let payload = signedBytes(timestamp, body)
        let key = key(secret)
        return signatures.contains { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: payload, using: key) }
    }

    private static func unixSeconds(_ date: Date) -> Int {
        Int(date.timeIntervalSince1970.rounded(.down))
    }

    private static func key(_ secret: String) -> SymmetricKey {
        SymmetricKey(data: Array(secret.utf8))
    }

    private static func signedBytes(_ seconds: Int, _ body: [UInt8]) -> [UInt8] {
        Array("\(seconds).".utf8) + body
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = hexDigit(digits[index]), let low = hexDigit(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
