-- 0003: the receivables ledger (customers, invoices and credit notes, payments, disputes,
-- promises to pay, audit trail) and tenant isolation by row-level security.
--
-- Every table carries tenant_id as the first column of its primary key and of every foreign
-- key, so rows can later be distributed by tenant. Ids are COLLATE "C": compared byte by byte,
-- which keeps index maintenance fast on a million-row import whatever the database's locale. Money is integer cents (BIGINT) plus an
-- ISO 4217 currency. Dates are calendar dates (DATE) in the tenant's time zone.

-- Tenant work runs as this role, which cannot bypass row-level security. The application
-- user becomes it per transaction (SET LOCAL ROLE encours_tenant) after setting
-- encours.tenant_id; see the README. Roles are cluster-wide and the migration lock is per
-- database, so two databases of one cluster migrating at once may both try to create it
-- (or grant it): the loser of that race finds it done and carries on.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'encours_tenant') THEN
        BEGIN
            CREATE ROLE encours_tenant NOLOGIN NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'encours_tenant', 'MEMBER') THEN
        BEGIN
            GRANT encours_tenant TO CURRENT_USER;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END;
$$;
GRANT USAGE ON SCHEMA encours TO encours_tenant;

-- The tenant of the current transaction, or NULL when none is set (then no row is visible).
CREATE FUNCTION encours.current_tenant_id() RETURNS BIGINT
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT nullif(current_setting('encours.tenant_id', true), '')::bigint
$$;
GRANT EXECUTE ON FUNCTION encours.current_tenant_id() TO encours_tenant;

CREATE TABLE encours.customers (
    tenant_id           BIGINT NOT NULL REFERENCES encours.tenants (id),
    customer_id         TEXT COLLATE "C" NOT NULL CHECK (customer_id <> '' AND length(customer_id) <= 64),
    name                TEXT NOT NULL CHECK (name <> ''),
    email               TEXT,
    language            TEXT NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en')),
    payment_terms_days  INTEGER CHECK (payment_terms_days BETWEEN 0 AND 365),
    credit_limit_cents  BIGINT CHECK (credit_limit_cents >= 0),
    policy              TEXT,
    on_hold             BOOLEAN NOT NULL DEFAULT false,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);

CREATE TABLE encours.invoices (
    tenant_id     BIGINT NOT NULL,
    invoice_id    TEXT COLLATE "C" NOT NULL CHECK (invoice_id <> '' AND length(invoice_id) <= 64),
    customer_id   TEXT COLLATE "C" NOT NULL,
    kind          TEXT NOT NULL DEFAULT 'invoice' CHECK (kind IN ('invoice', 'credit_note')),
    -- A credit note names the invoice it reduces.
    applies_to    TEXT COLLATE "C",
    issue_date    DATE NOT NULL,
    due_date      DATE NOT NULL,
    amount_cents  BIGINT NOT NULL CHECK (amount_cents > 0),
    currency      CHAR(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Dunning progress: the level reached and the date it was reached (0 / NULL: never reminded).
    dunning_level     INTEGER NOT NULL DEFAULT 0,
    level_reached_on  DATE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, invoice_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES encours.customers (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, applies_to) REFERENCES encours.invoices (tenant_id, invoice_id),
    CHECK (due_date >= issue_date),
    CHECK ((kind = 'credit_note') = (applies_to IS NOT NULL))
);
CREATE INDEX invoices_customer_idx ON encours.invoices (tenant_id, customer_id);
CREATE INDEX invoices_applies_to_idx ON encours.invoices (tenant_id, applies_to) WHERE applies_to IS NOT NULL;

CREATE TABLE encours.payments (
    tenant_id     BIGINT NOT NULL,
    payment_id    TEXT COLLATE "C" NOT NULL CHECK (payment_id <> '' AND length(payment_id) <= 64),
    customer_id   TEXT COLLATE "C" NOT NULL,
    -- NULL: unapplied cash on the customer's account.
    invoice_id    TEXT COLLATE "C",
    received_on   DATE NOT NULL,
    amount_cents  BIGINT NOT NULL CHECK (amount_cents > 0),
    currency      CHAR(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, payment_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES encours.customers (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES encours.invoices (tenant_id, invoice_id)
);
CREATE INDEX payments_invoice_idx ON encours.payments (tenant_id, invoice_id) WHERE invoice_id IS NOT NULL;
CREATE INDEX payments_customer_idx ON encours.payments (tenant_id, customer_id, received_on);

CREATE TABLE encours.disputes (
    tenant_id     BIGINT NOT NULL,
    dispute_id    TEXT COLLATE "C" NOT NULL CHECK (dispute_id <> '' AND length(dispute_id) <= 64),
    invoice_id    TEXT COLLATE "C" NOT NULL,
    reason        TEXT NOT NULL CHECK (reason <> ''),
    opened_on     DATE NOT NULL,
    -- NULL: the whole invoice balance is disputed.
    amount_cents  BIGINT CHECK (amount_cents > 0),
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'escalated', 'resolved')),
    tier          INTEGER NOT NULL DEFAULT 1 CHECK (tier >= 1),
    deadline      DATE,
    breached      BOOLEAN NOT NULL DEFAULT false,
    outcome       TEXT CHECK (outcome IN ('credit_note', 'upheld', 'withdrawn')),
    resolved_on   DATE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, dispute_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES encours.invoices (tenant_id, invoice_id),
    CHECK ((status = 'resolved') = (outcome IS NOT NULL))
);
CREATE INDEX disputes_invoice_idx ON encours.disputes (tenant_id, invoice_id) WHERE status <> 'resolved';

CREATE TABLE encours.promises (
    tenant_id     BIGINT NOT NULL,
    promise_id    BIGINT GENERATED ALWAYS AS IDENTITY,
    customer_id   TEXT COLLATE "C" NOT NULL,
    -- NULL: the promise covers all of the customer's invoices.
    invoice_id    TEXT COLLATE "C",
    amount_cents  BIGINT NOT NULL CHECK (amount_cents > 0),
    currency      CHAR(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    promised_for  DATE NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, promise_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES encours.customers (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES encours.invoices (tenant_id, invoice_id)
);
CREATE INDEX promises_customer_idx ON encours.promises (tenant_id, customer_id, promised_for);

-- Who changed what: one row per change made through Encours (imports record one row per
-- file with its counts; rows changed by a re-import and CLI changes record their old and new values).
CREATE TABLE encours.audit_log (
    tenant_id   BIGINT NOT NULL,
    entry_id    BIGINT GENERATED ALWAYS AS IDENTITY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT NOT NULL DEFAULT coalesce(nullif(current_setting('encours.actor', true), ''), session_user),
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT,
    details     JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, entry_id)
);

-- Records updates and deletes of ledger rows (inserts by import are summarized per file).
CREATE FUNCTION encours.audit_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
    INSERT INTO encours.audit_log (tenant_id, action, entity, entity_id, details)
    VALUES (OLD.tenant_id, lower(TG_OP), TG_ARGV[0], v_old ->> TG_ARGV[1], v_changes);
    RETURN NULL;
END;
$$;

CREATE TRIGGER customers_audit AFTER UPDATE OR DELETE ON encours.customers
    FOR EACH ROW EXECUTE FUNCTION encours.audit_row_change('customer', 'customer_id');
CREATE TRIGGER invoices_audit AFTER UPDATE OR DELETE ON encours.invoices
    FOR EACH ROW EXECUTE FUNCTION encours.audit_row_change('invoice', 'invoice_id');
CREATE TRIGGER payments_audit AFTER UPDATE OR DELETE ON encours.payments
    FOR EACH ROW EXECUTE FUNCTION encours.audit_row_change('payment', 'payment_id');
CREATE TRIGGER disputes_audit AFTER UPDATE OR DELETE ON encours.disputes
    FOR EACH ROW EXECUTE FUNCTION encours.audit_row_change('dispute', 'dispute_id');
CREATE TRIGGER promises_audit AFTER UPDATE OR DELETE ON encours.promises
    FOR EACH ROW EXECUTE FUNCTION encours.audit_row_change('promise', 'promise_id');

-- Balance of each invoice = amount - payments applied - credit notes applied.
CREATE VIEW encours.invoice_balances WITH (security_invoker = true) AS
SELECT i.tenant_id, i.invoice_id, i.customer_id, i.kind, i.issue_date, i.due_date, i.currency, i.amount_cents,
       coalesce(p.paid, 0) AS paid_cents,
       coalesce(c.credited, 0) AS credited_cents,
       i.amount_cents - coalesce(p.paid, 0) - coalesce(c.credited, 0) AS balance_cents
FROM encours.invoices i
LEFT JOIN LATERAL (
    SELECT sum(amount_cents) AS paid FROM encours.payments p
    WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.invoice_id
) p ON true
LEFT JOIN LATERAL (
    SELECT sum(amount_cents) AS credited FROM encours.invoices c
    WHERE c.tenant_id = i.tenant_id AND c.applies_to = i.invoice_id
) c ON true
WHERE i.kind = 'invoice';

-- Row-level security: each tenant sees and changes only its own rows, even when a query
-- forgets its WHERE clause. FORCE makes it apply to the tables' owner too.
DO $$
DECLARE
    v_table TEXT;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['customers', 'invoices', 'payments', 'disputes', 'promises', 'audit_log'] LOOP
        EXECUTE format('ALTER TABLE encours.%I ENABLE ROW LEVEL SECURITY', v_table);
        EXECUTE format('ALTER TABLE encours.%I FORCE ROW LEVEL SECURITY', v_table);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON encours.%I USING (tenant_id = encours.current_tenant_id()) '
            'WITH CHECK (tenant_id = encours.current_tenant_id())', v_table);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON encours.%I TO encours_tenant', v_table);
    END LOOP;
END;
$$;
GRANT SELECT ON encours.invoice_balances TO encours_tenant;

-- Tenant work may read its tenant row and enqueue its own jobs (transactional enqueue), nothing more.
ALTER TABLE encours.tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON encours.tenants TO encours_tenant USING (id = encours.current_tenant_id());
GRANT SELECT ON encours.tenants TO encours_tenant;
ALTER TABLE encours.jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_jobs ON encours.jobs TO encours_tenant
    USING (tenant_id = encours.current_tenant_id()) WITH CHECK (tenant_id = encours.current_tenant_id());
GRANT SELECT, INSERT ON encours.jobs TO encours_tenant;
