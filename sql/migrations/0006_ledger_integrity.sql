-- 0006: ledger integrity.
--
-- * A tenant scope that code running as the tenant cannot change: the scope is recorded by a
--   definer function the tenant role may not call, and current_tenant_id() reads it from there
--   (no longer from a setting anyone may set_config).
-- * An audit trail the tenant role can only append to, through a definer function that stamps
--   the tenant, the actor and the time itself.
-- * Writers of one tenant's ledger serialize on a per-tenant advisory lock (other tenants are
--   never blocked), so the checks of one import see the rows of another.
-- * At most 1,000,000,000,000.00 per row; sums are numeric.
-- * Balances computed by set-based aggregation (a hash join over grouped payments and credit
--   notes), with one-invoice lookups still by index.

-- The scope of each backend's current transaction (one row per backend, overwritten by the next
-- scoped transaction). Unlogged: it only ever matters to the transaction that wrote it.
CREATE UNLOGGED TABLE encours.tenant_scopes (
    backend_pid    INTEGER PRIMARY KEY,
    transaction_id XID8 NOT NULL,
    tenant_id      BIGINT NOT NULL,
    actor          TEXT NOT NULL
);

-- Opens the tenant scope for the rest of the current transaction. Called by the connection's own
-- role before it takes the role encours_tenant; the tenant role may not call it, so it cannot
-- switch tenants from inside a scope.
CREATE FUNCTION encours.enter_tenant_scope(p_tenant BIGINT, p_actor TEXT) RETURNS VOID
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_tenant IS NULL THEN
        RAISE EXCEPTION 'a tenant scope needs a tenant' USING ERRCODE = '22004';
    END IF;
    INSERT INTO encours.tenant_scopes (backend_pid, transaction_id, tenant_id, actor)
    VALUES (pg_backend_pid(), pg_current_xact_id(), p_tenant, coalesce(nullif(p_actor, ''), session_user))
    ON CONFLICT (backend_pid) DO UPDATE
        SET transaction_id = EXCLUDED.transaction_id, tenant_id = EXCLUDED.tenant_id, actor = EXCLUDED.actor;
END;
$$;
REVOKE EXECUTE ON FUNCTION encours.enter_tenant_scope(BIGINT, TEXT) FROM PUBLIC;

-- The tenant of the current transaction's scope, or NULL when none was opened (then no row is visible).
CREATE OR REPLACE FUNCTION encours.current_tenant_id() RETURNS BIGINT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT tenant_id FROM encours.tenant_scopes
    WHERE backend_pid = pg_backend_pid() AND transaction_id = pg_current_xact_id_if_assigned()
$$;

-- The actor of the current transaction's scope.
CREATE FUNCTION encours.current_actor() RETURNS TEXT
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT actor FROM encours.tenant_scopes
    WHERE backend_pid = pg_backend_pid() AND transaction_id = pg_current_xact_id_if_assigned()
$$;
GRANT EXECUTE ON FUNCTION encours.current_actor() TO encours_tenant;

-- Row-level security reads the scope once per statement (an InitPlan), not once per row.
DO $$
DECLARE
    v_table TEXT;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['customers', 'invoices', 'payments', 'disputes', 'promises', 'audit_log'] LOOP
        EXECUTE format('DROP POLICY tenant_isolation ON encours.%I', v_table);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON encours.%I USING (tenant_id = (SELECT encours.current_tenant_id())) '
            'WITH CHECK (tenant_id = (SELECT encours.current_tenant_id()))', v_table);
    END LOOP;
END;
$$;
DROP POLICY tenant_self ON encours.tenants;
CREATE POLICY tenant_self ON encours.tenants TO encours_tenant USING (id = (SELECT encours.current_tenant_id()));
DROP POLICY tenant_jobs ON encours.jobs;
CREATE POLICY tenant_jobs ON encours.jobs TO encours_tenant
    USING (tenant_id = (SELECT encours.current_tenant_id())) WITH CHECK (tenant_id = (SELECT encours.current_tenant_id()));

-- The audit trail: read-only for the tenant role; entries are added by encours.audit() and by
-- the row triggers, both definer functions that stamp tenant, actor and time.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON encours.audit_log FROM encours_tenant;
ALTER TABLE encours.audit_log ALTER COLUMN actor DROP DEFAULT;

CREATE FUNCTION encours.audit(p_action TEXT, p_entity TEXT, p_entity_id TEXT, p_details JSONB) RETURNS VOID
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant BIGINT := encours.current_tenant_id();
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'an audit entry needs a tenant scope' USING ERRCODE = '42501';
    END IF;
    INSERT INTO encours.audit_log (tenant_id, at, actor, action, entity, entity_id, details)
    VALUES (v_tenant, now(), encours.current_actor(), p_action, p_entity, p_entity_id, coalesce(p_details, '{}'));
END;
$$;
REVOKE EXECUTE ON FUNCTION encours.audit(TEXT, TEXT, TEXT, JSONB) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION encours.audit(TEXT, TEXT, TEXT, JSONB) TO encours_tenant;

-- Records updates and deletes of ledger rows, now as a definer (the tenant role cannot insert
-- audit rows itself) with the scope's actor.
CREATE OR REPLACE FUNCTION encours.audit_row_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_old JSONB := to_jsonb(OLD);
    v_new JSONB := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
    v_changes JSONB := '{}';
    v_key TEXT;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        FOR v_key IN SELECT jsonb_object_keys(v_new) LOOP
            IF v_key NOT IN ('updated_at') AND v_old -> v_key IS DISTINCT FROM v_new -> v_key THEN
                v_changes := v_changes || jsonb_build_object(v_key, jsonb_build_array(v_old -> v_key, v_new -> v_key));
            END IF;
        END LOOP;
        IF v_changes = '{}' THEN
            RETURN NULL;
        END IF;
    ELSE
        v_changes := v_old;
    END IF;
    INSERT INTO encours.audit_log (tenant_id, at, actor, action, entity, entity_id, details)
    VALUES (OLD.tenant_id, now(), coalesce(encours.current_actor(), session_user), lower(TG_OP), TG_ARGV[0], v_old ->> TG_ARGV[1], v_changes);
    RETURN NULL;
END;
$$;

-- Serializes the writers of the current tenant's ledger (imports, promises, disputes, dunning
-- runs) until the end of the transaction; other tenants are not blocked.
CREATE FUNCTION encours.lock_tenant_ledger() RETURNS VOID
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant BIGINT := encours.current_tenant_id();
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'locking a ledger needs a tenant scope' USING ERRCODE = '42501';
    END IF;
    -- Namespace 'ENCL'; tenant ids beyond 2^31 share a lock with another tenant (harmless, slower).
    PERFORM pg_advisory_xact_lock(1162757964, (v_tenant % 2147483647)::integer);
END;
$$;
REVOKE EXECUTE ON FUNCTION encours.lock_tenant_ledger() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION encours.lock_tenant_ledger() TO encours_tenant;

-- At most 1,000,000,000,000.00 per row. NOT VALID: rows stored before stay readable (and can be
-- corrected by a re-import); every new or changed row is checked.
ALTER TABLE encours.invoices ADD CONSTRAINT invoices_amount_limit CHECK (amount_cents <= 100000000000000) NOT VALID;
ALTER TABLE encours.payments ADD CONSTRAINT payments_amount_limit CHECK (amount_cents <= 100000000000000) NOT VALID;
ALTER TABLE encours.disputes ADD CONSTRAINT disputes_amount_limit CHECK (amount_cents <= 100000000000000) NOT VALID;
ALTER TABLE encours.promises ADD CONSTRAINT promises_amount_limit CHECK (amount_cents <= 100000000000000) NOT VALID;
ALTER TABLE encours.customers ADD CONSTRAINT customers_credit_limit_limit CHECK (credit_limit_cents <= 100000000000000) NOT VALID;

-- A sum of cents as a decimal amount (`123456` → `1234.56`), however large: for messages.
CREATE FUNCTION encours.format_cents(p_cents NUMERIC) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (p_cents / 100)::numeric(40, 2)::text
$$;
GRANT EXECUTE ON FUNCTION encours.format_cents(NUMERIC) TO encours_tenant;

-- Balance of each invoice = amount - payments applied - credit notes applied, by grouped joins:
-- a tenant-wide read hashes each grouped side once; a lookup of one invoice pushes its id into
-- both groupings and reads them by index. One invoice's payments and credit notes cannot exceed
-- its amount (the import refuses it), so they fit in bigint, the cheapest per row; sums over
-- many invoices are numeric.
DROP VIEW encours.invoice_balances;
CREATE VIEW encours.invoice_balances WITH (security_invoker = true) AS
SELECT i.tenant_id, i.invoice_id, i.customer_id, i.kind, i.issue_date, i.due_date, i.currency, i.amount_cents,
       coalesce(p.paid, 0) AS paid_cents,
       coalesce(c.credited, 0) AS credited_cents,
       i.amount_cents - coalesce(p.paid, 0) - coalesce(c.credited, 0) AS balance_cents
FROM encours.invoices i
LEFT JOIN (
    SELECT tenant_id, invoice_id, sum(amount_cents)::bigint AS paid FROM encours.payments
    WHERE invoice_id IS NOT NULL GROUP BY tenant_id, invoice_id
) p ON p.tenant_id = i.tenant_id AND p.invoice_id = i.invoice_id
LEFT JOIN (
    SELECT tenant_id, applies_to, sum(amount_cents)::bigint AS credited FROM encours.invoices
    WHERE applies_to IS NOT NULL GROUP BY tenant_id, applies_to
) c ON c.tenant_id = i.tenant_id AND c.applies_to = i.invoice_id
WHERE i.kind = 'invoice';
GRANT SELECT ON encours.invoice_balances TO encours_tenant;
