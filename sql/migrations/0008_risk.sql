-- 0008: credit risk. Each recalculation of a tenant (or of some of its customers) and, per
-- customer, the figures, score, grade, factors and recommendation it found (history: one row
-- per recalculation and customer); each customer's current risk state (the grade alerts compare
-- with, and whether it is dunned under the tenant's `strict` policy); the alerts raised; and the
-- notifications that carry alerts (and, later, dispute escalations) to the tenant by email or
-- webhook. The score formula is in docs/risk.md.

-- One row per risk.recalc (or `risk recalc` run) that scored at least one customer.
CREATE TABLE encours.risk_recalcs (
    tenant_id        BIGINT NOT NULL REFERENCES encours.tenants (id),
    recalc_id        BIGINT GENERATED ALWAYS AS IDENTITY,
    as_of            DATE NOT NULL,
    -- The customers asked for (NULL: the whole tenant).
    customer_scope   TEXT[] COLLATE "C",
    -- The risk.recalc job that made it (NULL when run otherwise).
    job_id           BIGINT,
    customers        INTEGER NOT NULL,
    alerts           INTEGER NOT NULL,
    policy_switches  INTEGER NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, recalc_id)
);
CREATE INDEX risk_recalcs_job_idx ON encours.risk_recalcs (job_id) WHERE job_id IS NOT NULL;

-- A customer's figures and score at one recalculation. Amounts are in the tenant's currency
-- (NUMERIC: sums over a customer's invoices); day counts of payment delay are tenths of a day.
CREATE TABLE encours.risk_scores (
    tenant_id            BIGINT NOT NULL,
    recalc_id            BIGINT NOT NULL,
    customer_id          TEXT COLLATE "C" NOT NULL,
    as_of                DATE NOT NULL,
    currency             CHAR(3) NOT NULL,
    exposure_cents       NUMERIC NOT NULL,
    overdue_cents        NUMERIC NOT NULL,
    current_cents        NUMERIC NOT NULL,
    days_1_30_cents      NUMERIC NOT NULL,
    days_31_60_cents     NUMERIC NOT NULL,
    days_61_90_cents     NUMERIC NOT NULL,
    over_90_cents        NUMERIC NOT NULL,
    oldest_overdue_days  INTEGER NOT NULL,
    credit_limit_cents   BIGINT,
    -- Exposure ÷ credit limit in basis points (NULL without a limit, or with a zero limit).
    utilization_bp       BIGINT,
    -- Days beyond terms over the last 12 months / the last 90 days / the 90 before (NULL: no payment then).
    dbt_tenths           INTEGER,
    recent_dbt_tenths    INTEGER,
    prior_dbt_tenths     INTEGER,
    open_disputes        INTEGER NOT NULL,
    broken_promises      INTEGER NOT NULL,
    invoices_issued      INTEGER NOT NULL,
    beyond_legal_terms   INTEGER NOT NULL,
    score                INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    grade                CHAR(1) NOT NULL CHECK (grade IN ('A', 'B', 'C', 'D', 'E')),
    recommendation       TEXT NOT NULL,
    -- {factor name: points added to 100}, every factor of the formula.
    factors              JSONB NOT NULL,
    -- True when the customer is dunned under `strict` after this recalculation.
    strict_policy        BOOLEAN NOT NULL,
    policy_switch        TEXT CHECK (policy_switch IN ('to_strict', 'from_strict')),
    -- No foreign keys, for the reason given at reminder_items: written only by a recalculation,
    -- 100,000 rows in one statement, never updated or deleted by the tenant role. One index: a
    -- customer's history by date (its latest score is the last entry); a recalculation has one
    -- date, so (recalc, customer) is unique too.
    PRIMARY KEY (tenant_id, customer_id, as_of, recalc_id)
);

-- Each customer's risk state after its latest recalculation (by date): what the next one
-- compares with. Written when the state changes or a later date is recalculated.
CREATE TABLE encours.customer_risk (
    tenant_id          BIGINT NOT NULL,
    customer_id        TEXT COLLATE "C" NOT NULL,
    -- The date of that recalculation: one dated before it writes history only.
    as_of              DATE NOT NULL,
    grade              CHAR(1) NOT NULL CHECK (grade IN ('A', 'B', 'C', 'D', 'E')),
    over_credit_limit  BOOLEAN NOT NULL,
    strict_policy      BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
) WITH (fillfactor = 70);

-- An alert: a grade that worsened, or a credit limit newly exceeded.
CREATE TABLE encours.risk_alerts (
    tenant_id    BIGINT NOT NULL,
    alert_id     BIGINT GENERATED ALWAYS AS IDENTITY,
    recalc_id    BIGINT NOT NULL,
    customer_id  TEXT COLLATE "C" NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('grade_worsened', 'credit_limit_exceeded')),
    from_grade   CHAR(1),
    to_grade     CHAR(1) NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- No foreign key: a first recalculation of a large tenant writes 100,000 alerts in one
    -- statement, only from the recalculation it has just recorded.
    PRIMARY KEY (tenant_id, alert_id)
);
-- A recalculation's alerts in order, 200 at a time (the parts its notifications carry).
CREATE INDEX risk_alerts_recalc_idx ON encours.risk_alerts (tenant_id, recalc_id, alert_id);

-- A message to the tenant itself (not to a customer): delivered by a reminder.deliver job
-- whose payload names it, by email to the tenant's alert_email (one per recalculation, listing
-- its alerts, so a first recalculation of a large tenant sends one email, not thousands) or by
-- webhook to its webhook_url (one signed event per 200 alerts).
CREATE TABLE encours.notifications (
    tenant_id          BIGINT NOT NULL,
    notification_id    BIGINT GENERATED ALWAYS AS IDENTITY,
    -- risk_recalc: a recalculation's alerts (source_id: its recalc_id).
    source             TEXT NOT NULL CHECK (source IN ('risk_recalc', 'dispute_escalation')),
    source_id          BIGINT NOT NULL,
    channel            TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    -- The email address (email) or the URL (webhook) at the time of the alert.
    recipient          TEXT NOT NULL,
    subject            TEXT NOT NULL,
    text_body          TEXT NOT NULL,
    -- Of a recalculation's alerts, the part (0, 1, ...) of 200 this notification carries.
    part               INTEGER CHECK (part >= 0),
    -- The webhook's JSON body; NULL for a recalculation's alerts, whose events are built when
    -- the notification is sent from its part of the alerts and their scores (history that is
    -- never rewritten), so a first recalculation raising 100,000 alerts writes 500 small rows.
    payload            JSONB,
    status             TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    failure_reason     TEXT,
    delivery_attempts  INTEGER NOT NULL DEFAULT 0,
    sent_at            TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, notification_id),
    CHECK ((status = 'failed') = (failure_reason IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX notifications_source_idx ON encours.notifications (tenant_id, source, source_id);

-- Serializes the risk recalculations of the current tenant (not its ledger: imports and dunning
-- runs go on), so two never compare with the same previous state and raise an alert twice.
CREATE FUNCTION encours.lock_tenant_risk() RETURNS VOID
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tenant BIGINT := encours.current_tenant_id();
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'locking risk needs a tenant scope' USING ERRCODE = '42501';
    END IF;
    -- Namespace 'ENCR'.
    PERFORM pg_advisory_xact_lock(1162757970, (v_tenant % 2147483647)::integer);
END;
$$;
REVOKE EXECUTE ON FUNCTION encours.lock_tenant_risk() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION encours.lock_tenant_risk() TO encours_tenant;

DO $$
DECLARE
    v_table TEXT;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['risk_recalcs', 'risk_scores', 'customer_risk', 'risk_alerts', 'notifications'] LOOP
        EXECUTE format('ALTER TABLE encours.%I ENABLE ROW LEVEL SECURITY', v_table);
        EXECUTE format('ALTER TABLE encours.%I FORCE ROW LEVEL SECURITY', v_table);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON encours.%I USING (tenant_id = (SELECT encours.current_tenant_id())) '
            'WITH CHECK (tenant_id = (SELECT encours.current_tenant_id()))', v_table);
        EXECUTE format('GRANT SELECT, INSERT ON encours.%I TO encours_tenant', v_table);
    END LOOP;
END;
$$;
-- History is added, never rewritten: only the current state and a notification's delivery move.
GRANT UPDATE ON encours.customer_risk TO encours_tenant;
GRANT UPDATE (status, failure_reason, delivery_attempts, sent_at) ON encours.notifications TO encours_tenant;
