/// Byte-level helpers for UTF-8 text: trimming the spaces French exports use, and validation.
///
/// The import path works on the bytes of each field so that a million-row file is read without
/// creating a `String` for every value; these helpers are what it shares with `Money` and `CalendarDate`.
enum TextBytes {
    /// The byte length of the space-like character starting at `index` (ASCII space, tab,
    /// U+00A0 no-break space, U+202F narrow no-break space), or 0 when there is none.
    @inline(__always)
    static func spaceLength(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> Int {
        let byte = bytes[index]
        if byte == 0x20 || byte == 0x09 { return 1 }
        if byte == 0xC2, index + 1 < bytes.count, bytes[index + 1] == 0xA0 { return 2 }
        if byte == 0xE2, index + 2 < bytes.count, bytes[index + 1] == 0x80, bytes[index + 2] == 0xAF { return 3 }
        return 0
    }

    /// The byte length of the space-like character ending just before `end`, or 0 when there is none.
    @inline(__always)
    static func spaceLength(_ bytes: UnsafeBufferPointer<UInt8>, endingBefore end: Int) -> Int {
        let byte = bytes[end - 1]
        if byte == 0x20 || byte == 0x09 { return 1 }
        if byte == 0xA0, end >= 2, bytes[end - 2] == 0xC2 { return 2 }
        if byte == 0xAF, end >= 3, bytes[end - 2] == 0x80, bytes[end - 3] == 0xE2 { return 3 }
        return 0
    }

    /// `bytes` without leading and trailing spaces, tabs, no-break and narrow no-break spaces.
    @inline(__always)
    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var start = 0
        var end = bytes.count
        while start < end {
            let length = spaceLength(bytes, at: start)
            if length == 0 { break }
            start += length
        }
        while end > start {
            let length = spaceLength(bytes, endingBefore: end)
            if length == 0 { break }
            end -= length
        }
        if start == 0 && end == bytes.count { return bytes }
        return UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// The offset of the first byte that makes `bytes` invalid UTF-8, or nil when it is valid.
    ///
    /// Follows the Unicode well-formedness table: no overlong forms, no surrogates, nothing above U+10FFFF.
    static func firstInvalidUTF8Offset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let continuationCount: Int
            var secondLow: UInt8 = 0x80
            var secondHigh: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: continuationCount = 1
            case 0xE0: continuationCount = 2; secondLow = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: continuationCount = 2
            case 0xED: continuationCount = 2; secondHigh = 0x9F
            case 0xF0: continuationCount = 3; secondLow = 0x90
            case 0xF1...0xF3: continuationCount = 3
            case 0xF4: continuationCount = 3; secondHigh = 0x8F
            default: return index
            }
            for step in 1...continuationCount {
                let position = index + step
                guard position < count else { return index }
                let byte = bytes[position]
                let low: UInt8 = step == 1 ? secondLow : 0x80
                let high: UInt8 = step == 1 ? secondHigh : 0xBF
                guard byte >= low && byte <= high else { return index }
            }
            index += continuationCount + 1
        }
        return nil
    }

    /// The number of Unicode scalars in valid UTF-8 `bytes` (the bytes that are not continuation bytes).
    static func scalarCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        for byte in bytes where byte & 0xC0 != 0x80 {
            count += 1
        }
        return count
    }

    /// Calls `body` with the UTF-8 bytes of `text`, without copying when the string is native.
    static func withBytes<Value>(
        of text: String, _ body: (UnsafeBufferPointer<UInt8>) throws(LedgerError) -> Value
    ) throws(LedgerError) -> Value {
        var copy = text
        let outcome = copy.withUTF8 { bytes in
            Result<Value, LedgerError> { () throws(LedgerError) -> Value in try body(bytes) }
        }
        return try outcome.get()
    }
}
