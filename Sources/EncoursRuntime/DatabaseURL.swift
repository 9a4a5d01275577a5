/// Where the database is: `--database-url`, else `ENCOURS_DATABASE_URL`, else `DATABASE_URL`.
public enum DatabaseURL {
    /// Resolves the connection string from a flag and an environment; throws when none is set.
    public static func resolve(flag: String?, environment: [String: String]) throws -> String {
        for candidate in [flag, environment["ENCOURS_DATABASE_URL"], environment["DATABASE_URL"]] {
            if let candidate, !candidate.isEmpty { return candidate }
        }
        throw RuntimeError("no database given: pass --database-url or set ENCOURS_DATABASE_URL (or DATABASE_URL)")
    }
}

/// A problem with how an executable was started (its flags or environment).
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
