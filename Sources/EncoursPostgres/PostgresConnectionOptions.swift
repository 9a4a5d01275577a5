/// Connection settings applied to every connection unless its connection string sets them.
///
/// Without them a connection to a server that vanished (a half-open TCP socket) can block a
/// statement for the kernel's retransmission timeout, about 15 minutes; with them it fails
/// within `tcpUserTimeout`, and an idle connection learns of a dead peer from keepalives.
public struct PostgresConnectionOptions: Sendable, Hashable {
    /// The longest a connection attempt may take (libpq `connect_timeout`; default 10 s).
    public var connectTimeoutSeconds: Int
    /// Seconds of idleness before the first TCP keepalive probe (default 10).
    public var keepaliveIdleSeconds: Int
    /// Seconds between keepalive probes (default 5).
    public var keepaliveIntervalSeconds: Int
    /// Unanswered probes before the connection is declared dead (default 3).
    public var keepaliveCount: Int
    /// Milliseconds sent data may stay unacknowledged before the connection is dropped
    /// (libpq `tcp_user_timeout`; default 20,000).
    public var tcpUserTimeoutMilliseconds: Int
    /// Shown in `pg_stat_activity` (default `encours`).
    public var applicationName: String

    public init(
        connectTimeoutSeconds: Int = 10, keepaliveIdleSeconds: Int = 10, keepaliveIntervalSeconds: Int = 5,
        keepaliveCount: Int = 3, tcpUserTimeoutMilliseconds: Int = 20_000, applicationName: String = "encours"
    ) {
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.keepaliveIdleSeconds = keepaliveIdleSeconds
        self.keepaliveIntervalSeconds = keepaliveIntervalSeconds
        self.keepaliveCount = keepaliveCount
        self.tcpUserTimeoutMilliseconds = tcpUserTimeoutMilliseconds
        self.applicationName = applicationName
    }

    /// The defaults above.
    public static let standard = PostgresConnectionOptions()

    /// The libpq keywords and values, in the order they are passed.
    var parameters: [(String, String)] {
        [
            ("connect_timeout", String(connectTimeoutSeconds)), ("keepalives", "1"),
            ("keepalives_idle", String(keepaliveIdleSeconds)), ("keepalives_interval", String(keepaliveIntervalSeconds)),
            ("keepalives_count", String(keepaliveCount)), ("tcp_user_timeout", String(tcpUserTimeoutMilliseconds)),
            ("application_name", applicationName),
        ]
    }
}
