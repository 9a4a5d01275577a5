-- 0007: dunning. Policies and their levels, the ECB rate history for late-payment interest,
-- each invoice's dunning level (moved off the invoices table), reminders with their items, the
-- dunning runs, and tenants' own reminder templates.

-- The ECB main refinancing operations rate: one row per change, from its effective date.
-- Late-payment interest (Code de commerce L441-10 II) uses the rate in force on 1 January for
-- days in January-June and on 1 July for days in July-December. Rates are in hundredths of a
-- percent (2.15 % = 215). Shared by every tenant (it is not tenant data); operators extend it
-- with `encours rates set DATE RATE`.
-- Source of the rows below: the ECB's monetary policy decisions (ecb.europa.eu, "Key ECB
-- interest rates"), cross-checked against the French table of "taux refi" value dates published
-- by Les Echos Publishing (2025). Later changes must be added by operators.
CREATE TABLE encours.ecb_rates (
    effective_on        DATE PRIMARY KEY,
    rate_hundredths     INTEGER NOT NULL CHECK (rate_hundredths BETWEEN -10000 AND 10000),
    source              TEXT NOT NULL DEFAULT 'operator' CHECK (source <> ''),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO encours.ecb_rates (effective_on, rate_hundredths, source) VALUES
    ('2014-06-11', 15, 'ECB'), ('2014-09-10', 5, 'ECB'), ('2016-03-16', 0, 'ECB'),
    ('2022-07-27', 50, 'ECB'), ('2022-09-14', 125, 'ECB'), ('2022-11-02', 200, 'ECB'),
    ('2022-12-21', 250, 'ECB'), ('2023-02-08', 300, 'ECB'), ('2023-03-22', 350, 'ECB'),
    ('2023-05-10', 375, 'ECB'), ('2023-06-21', 400, 'ECB'), ('2023-08-02', 425, 'ECB'),
    ('2023-09-20', 450, 'ECB'), ('2024-06-12', 425, 'ECB'), ('2024-09-18', 365, 'ECB'),
    ('2024-10-23', 340, 'ECB'), ('2024-12-18', 315, 'ECB'), ('2025-02-05', 290, 'ECB'),
    ('2025-03-12', 265, 'ECB'), ('2025-04-23', 240, 'ECB'), ('2025-06-11', 215, 'ECB');
GRANT SELECT ON encours.ecb_rates TO encours_tenant;

-- Dunning policies: a name, a minimum amount and gap, and the levels (below). Every tenant has
-- `standard`, created with the tenant; customers name another in their `policy` column.
CREATE TABLE encours.dunning_policies (
    tenant_id                   BIGINT NOT NULL REFERENCES encours.tenants (id),
    name                        TEXT COLLATE "C" NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    min_amount_cents            BIGINT NOT NULL CHECK (min_amount_cents BETWEEN 0 AND 100000000000000),
    min_days_between_reminders  INTEGER NOT NULL CHECK (min_days_between_reminders BETWEEN 0 AND 3650),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE encours.dunning_levels (
    tenant_id         BIGINT NOT NULL,
    policy            TEXT COLLATE "C" NOT NULL,
    level             INTEGER NOT NULL CHECK (level BETWEEN 1 AND 20),
    days_after_due    INTEGER NOT NULL CHECK (days_after_due BETWEEN -3650 AND 3650),
    channel           TEXT NOT NULL CHECK (channel IN ('email', 'webhook', 'letter')),
    template          TEXT NOT NULL CHECK (template ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    charge_penalties  BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, policy, level),
    FOREIGN KEY (tenant_id, policy) REFERENCES encours.dunning_policies (tenant_id, name) ON DELETE CASCADE
);

-- The default policy (docs/dunning.md), for the tenant given.
CREATE FUNCTION encours.create_standard_policy(p_tenant BIGINT) RETURNS VOID
LANGUAGE sql VOLATILE AS $$
    INSERT INTO encours.dunning_policies (tenant_id, name, min_amount_cents, min_days_between_reminders)
    VALUES (p_tenant, 'standard', 1500, 7)
    ON CONFLICT DO NOTHING;
    INSERT INTO encours.dunning_levels (tenant_id, policy, level, days_after_due, channel, template, charge_penalties)
    VALUES (p_tenant, 'standard', 1, 1, 'email', 'friendly', false),
           (p_tenant, 'standard', 2, 15, 'email', 'firm', false),
           (p_tenant, 'standard', 3, 30, 'email', 'formal_notice', true),
           (p_tenant, 'standard', 4, 45, 'webhook', 'collection_handoff', false)
    ON CONFLICT DO NOTHING;
$$;
REVOKE EXECUTE ON FUNCTION encours.create_standard_policy(BIGINT) FROM PUBLIC;

CREATE FUNCTION encours.tenant_created() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM encours.create_standard_policy(NEW.id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER tenants_standard_policy AFTER INSERT ON encours.tenants
    FOR EACH ROW EXECUTE FUNCTION encours.tenant_created();
SELECT encours.create_standard_policy(id) FROM encours.tenants;

-- Tenants' own reminder templates, by name and language (the built-in ones ship in the binary).
CREATE TABLE encours.reminder_templates (
    tenant_id   BIGINT NOT NULL REFERENCES encours.tenants (id),
    name        TEXT COLLATE "C" NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    language    TEXT NOT NULL CHECK (language IN ('fr', 'en')),
    subject     TEXT NOT NULL CHECK (subject <> '' AND length(subject) <= 500),
    text_body   TEXT NOT NULL CHECK (length(text_body) <= 200000),
    html_body   TEXT NOT NULL CHECK (length(html_body) <= 500000),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name, language)
);

-- Each invoice's dunning progress: the level it reached and the date it reached it (no row:
-- level 0, never reminded). Kept apart from the invoices so that a run that moves a million
-- invoices writes a million narrow rows, not a million new versions of wide ones with all of
-- their indexes; fillfactor 50 leaves room for the next run's moves to be HOT updates.
ALTER TABLE encours.invoices DROP COLUMN dunning_level, DROP COLUMN level_reached_on;
CREATE TABLE encours.invoice_dunning (
    tenant_id         BIGINT NOT NULL,
    invoice_id        TEXT COLLATE "C" NOT NULL,
    level             INTEGER NOT NULL CHECK (level >= 1),
    level_reached_on  DATE NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id)
) WITH (fillfactor = 50);

-- One row per dunning run that recorded something (dry runs record nothing).
CREATE TABLE encours.dunning_runs (
    tenant_id        BIGINT NOT NULL REFERENCES encours.tenants (id),
    run_id           BIGINT GENERATED ALWAYS AS IDENTITY,
    as_of            DATE NOT NULL,
    -- The dunning.run job that made it (NULL when run otherwise).
    job_id           BIGINT,
    reminders        INTEGER NOT NULL,
    invoices_moved   INTEGER NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, run_id)
);
CREATE INDEX dunning_runs_job_idx ON encours.dunning_runs (job_id) WHERE job_id IS NOT NULL;

-- A reminder: one per customer and currency in a run where at least one invoice moved.
CREATE TABLE encours.reminders (
    tenant_id            BIGINT NOT NULL,
    reminder_id          BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id               BIGINT NOT NULL,
    customer_id          TEXT COLLATE "C" NOT NULL,
    currency             CHAR(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    as_of                DATE NOT NULL,
    level                INTEGER NOT NULL CHECK (level >= 1),
    policy               TEXT COLLATE "C" NOT NULL,
    template             TEXT NOT NULL,
    channel              TEXT NOT NULL CHECK (channel IN ('email', 'webhook', 'letter')),
    language             TEXT NOT NULL CHECK (language IN ('fr', 'en')),
    -- The email address for the email channel (NULL otherwise).
    recipient            TEXT,
    charge_penalties     BOOLEAN NOT NULL,
    total_balance_cents  BIGINT NOT NULL CHECK (total_balance_cents >= 0),
    interest_cents       BIGINT NOT NULL DEFAULT 0 CHECK (interest_cents >= 0),
    indemnity_cents      BIGINT NOT NULL DEFAULT 0 CHECK (indemnity_cents >= 0),
    status               TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    failure_reason       TEXT,
    delivery_attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at              TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, reminder_id),
    -- The customer is not a foreign key, for the reason given at reminder_items.
    FOREIGN KEY (tenant_id, run_id) REFERENCES encours.dunning_runs (tenant_id, run_id),
    CHECK ((status = 'failed') = (failure_reason IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX reminders_run_idx ON encours.reminders (tenant_id, run_id);
CREATE INDEX reminders_customer_idx ON encours.reminders (tenant_id, customer_id, reminder_id);

-- The invoices a reminder lists, each with its level and balance at the run's date.
CREATE TABLE encours.reminder_items (
    tenant_id        BIGINT NOT NULL,
    reminder_id      BIGINT NOT NULL,
    invoice_id       TEXT COLLATE "C" NOT NULL,
    -- The invoice's level after the run, and before it (equal when it did not move).
    level            INTEGER NOT NULL CHECK (level >= 0),
    previous_level   INTEGER NOT NULL CHECK (previous_level >= 0),
    issue_date       DATE NOT NULL,
    due_date         DATE NOT NULL,
    amount_cents     BIGINT NOT NULL,
    balance_cents    BIGINT NOT NULL CHECK (balance_cents > 0),
    days_overdue     INTEGER NOT NULL,
    interest_cents   BIGINT NOT NULL DEFAULT 0 CHECK (interest_cents >= 0),
    indemnity_cents  BIGINT NOT NULL DEFAULT 0 CHECK (indemnity_cents >= 0),
    -- No foreign keys: a run writes a million items in one statement, and a per-row check of
    -- each would double its time. Items are written only by the run, from the reminders it has
    -- just inserted and the invoices it has just read, and the tenant role can neither update
    -- nor delete them.
    PRIMARY KEY (tenant_id, reminder_id, invoice_id)
);

-- Row-level security, as for the ledger: each tenant sees and changes only its own rows. FORCE
-- (the owner too is held to its scope) everywhere but on policies and levels: the trigger that
-- gives a new tenant its `standard` policy runs as the owner outside any tenant scope.
DO $$
DECLARE
    v_table TEXT;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['dunning_policies', 'dunning_levels', 'reminder_templates', 'invoice_dunning', 'dunning_runs', 'reminders', 'reminder_items'] LOOP
        EXECUTE format('ALTER TABLE encours.%I ENABLE ROW LEVEL SECURITY', v_table);
        IF v_table NOT IN ('dunning_policies', 'dunning_levels') THEN
            EXECUTE format('ALTER TABLE encours.%I FORCE ROW LEVEL SECURITY', v_table);
        END IF;
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON encours.%I USING (tenant_id = (SELECT encours.current_tenant_id())) '
            'WITH CHECK (tenant_id = (SELECT encours.current_tenant_id()))', v_table);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON encours.%I TO encours_tenant', v_table);
    END LOOP;
END;
$$;
-- Runs and reminders are history: the tenant role adds them and moves a reminder's delivery
-- status, never rewrites or deletes them.
REVOKE UPDATE, DELETE, TRUNCATE ON encours.dunning_runs, encours.reminders, encours.reminder_items FROM encours_tenant;
REVOKE DELETE, TRUNCATE ON encours.invoice_dunning FROM encours_tenant;
GRANT UPDATE (status, failure_reason, delivery_attempts, sent_at) ON encours.reminders TO encours_tenant;
