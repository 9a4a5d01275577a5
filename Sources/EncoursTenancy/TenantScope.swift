import EncoursPostgres

/// Runs tenant work the way row-level security expects: in a transaction, as the role
/// `encours_tenant` (which cannot bypass RLS), with `encours.tenant_id` set for that transaction only.
///
/// Every ledger query goes through here; a query that forgets `WHERE tenant_id = …` still sees
/// and changes only this tenant's rows. Both settings are transaction-local (`SET LOCAL`,
/// `set_config(..., true)`), so they end with the transaction and never leak to the next user
/// of a pooled connection.
public enum TenantScope {
    /// The role tenant work runs as.
    public static let role = "encours_tenant"

    /// Runs `body` in a tenant-scoped transaction; it commits when `commit` is true and `body`
    /// returns, and rolls back otherwise (a dry run keeps the result and rolls back the writes).
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func transaction<T>(
        tenantID: Int64, actor: String = "encours", commit: Bool = true, on connection: PostgresConnection,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        try connection.execute("BEGIN")
        do {
            try assume(tenantID: tenantID, actor: actor, on: connection)
            let value = try body(connection)
            try connection.execute(commit ? "COMMIT" : "ROLLBACK")
            return value
        } catch {
            if connection.isHealthy { try? connection.execute("ROLLBACK") }
            throw error
        }
    }

    /// Takes the tenant's scope for the rest of the transaction already open on `connection`.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func assume(tenantID: Int64, actor: String, on connection: PostgresConnection) throws {
        try connection.query(
            "SELECT set_config('encours.tenant_id', $1, true), set_config('encours.actor', $2, true)",
            [String(tenantID), actor])
        try connection.execute("SET LOCAL ROLE \(role)")
    }

    /// Gives the tenant's role back for the rest of the transaction (the tenant setting stays).
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func leaveRole(on connection: PostgresConnection) throws {
        try connection.execute("SET LOCAL ROLE NONE")
    }
}
