/// The version both executables print for `--version`.
public enum BuildInfo {
    /// The release, changed by hand when one is cut.
    public static let version = "0.7.0"
    /// The git commit of the build (`unknown` outside a git checkout).
    public static let commit = buildCommit

    /// `0.7.0 (commit 0123456789ab)`.
    public static var description: String {
        "\(version) (commit \(commit == "unknown" ? commit : String(commit.prefix(12))))"
    }
}
