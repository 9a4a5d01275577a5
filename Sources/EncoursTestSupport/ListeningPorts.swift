#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Ports for servers a test starts (a worker's `--metrics-port`).
public enum ListeningPorts {
    /// A port on 127.0.0.1 that can be bound now, outside the kernel's ephemeral range.
    ///
    /// A random port inside that range may be the local end of an outgoing connection (a libpq
    /// client's) that no connect test sees, and the server then fails with "Address already in
    /// use"; outside it, only listeners take ports, and the bind check sees those.
    /// When the ephemeral range covers every port from 10,000 up, any port that binds now.
    public static func unused() -> Int {
        let ephemeral = ephemeralRange()
        let outside = ephemeral.lowerBound > 10_000 || ephemeral.upperBound < 65_000
        var port = 10_000
        for _ in 0..<500 {
            port = Int.random(in: 10_000...65_000)
            if outside, ephemeral.contains(port) { continue }
            if canBind(port) { return port }
        }
        return port
    }

    /// `net.ipv4.ip_local_port_range`, or Linux's default when it cannot be read.
    static func ephemeralRange() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return 32_768...60_999 }
        return bounds[0]...bounds[1]
    }

    /// True when a TCP socket can bind 127.0.0.1:`port` (without SO_REUSEADDR) right now.
    static func canBind(_ port: Int) -> Bool {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
