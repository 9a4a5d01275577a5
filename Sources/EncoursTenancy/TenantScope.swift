import EncoursPostgres

/// Runs tenant work the way row-level security expects: in a transaction, as the role
/// `encours_tenant` (which cannot bypass RLS), in the scope of one tenant.
///
/// Every ledger query goes through here; a query that forgets `WHERE tenant_id = …` still sees
/// and changes only this tenant's rows. The scope is opened by `encours.enter_tenant_scope`, a
/// definer function the tenant role may not call, and read back by `encours.current_tenant_id()`:
/// code running inside the scope cannot switch to another tenant or change the actor that the
/// audit trail records. The role is transaction-local (`SET LOCAL`) and the scope belongs to the
/// transaction, so neither outlives it or reaches the next user of a pooled connection.
public enum TenantScope {
    /// The role tenant work runs as.
    public static let role = "encours_tenant"

    /// Serializes the writers of the scope's tenant ledger until the transaction ends (imports,
    /// promises, disputes, dunning runs), so the checks of one see what another wrote; other
    /// tenants are not blocked.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func lockLedger(on connection: PostgresConnection) throws {
        try connection.query("SELECT encours.lock_tenant_ledger()")
    }

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
    ///
    /// `actor` is who the audit trail records for the changes of this transaction.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func assume(tenantID: Int64, actor: String, on connection: PostgresConnection) throws {
        try connection.query("SELECT encours.enter_tenant_scope($1, $2)", [tenantID, actor])
        try connection.execute("SET LOCAL ROLE \(role)")
    }

    /// Gives the tenant's role back for the rest of the transaction (the scope stays).
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func leaveRole(on connection: PostgresConnection) throws {
        try connection.execute("SET LOCAL ROLE NONE")
    }

    /// Takes the tenant's role again after ``leaveRole(on:)``, in the same scope.
    @available(*, noasync, message: "blocks its thread: run it inside PostgresSession.withConnection")
    public static func resumeRole(on connection: PostgresConnection) throws {
        try connection.execute("SET LOCAL ROLE \(role)")
    }
}
