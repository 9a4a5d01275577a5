-- 0001: tenants, the job queue, the worker registry and leader election.
-- Every object lives in schema encours. Each migration runs in one transaction (see encours migrate).

CREATE TABLE encours.tenants (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug                TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name                TEXT NOT NULL CHECK (name <> ''),
    currency            CHAR(3) NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    locale              TEXT NOT NULL DEFAULT 'fr' CHECK (locale IN ('fr', 'en')),
    timezone            TEXT NOT NULL DEFAULT 'Europe/Paris',
    -- Cap on this tenant's running jobs across all workers; NULL means no cap.
    max_concurrent_jobs INTEGER CHECK (max_concurrent_jobs > 0),
    -- Other settings (smtp_from, webhook_url, penalty_margin_points, ...), validated by the CLI.
    settings            JSONB NOT NULL DEFAULT '{}',
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TYPE encours.job_state AS ENUM (
    'available', 'scheduled', 'running', 'retryable', 'completed', 'discarded', 'cancelled'
);

CREATE TABLE encours.jobs (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         BIGINT NOT NULL REFERENCES encours.tenants (id),
    kind              TEXT NOT NULL,
    payload           JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    state             encours.job_state NOT NULL DEFAULT 'available',
    -- 1 is most urgent, 4 least.
    priority          SMALLINT NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    run_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempt           INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL DEFAULT 20 CHECK (max_attempts > 0),
    -- One object per failed attempt: {"attempt", "at", "error"}.
    errors            JSONB NOT NULL DEFAULT '[]',
    unique_key        TEXT,
    -- Workers that claimed this job, one entry per attempt.
    attempted_by      TEXT[] NOT NULL DEFAULT '{}',
    worker_id         TEXT,
    lease_expires_at  TIMESTAMPTZ,
    cancel_requested  BOOLEAN NOT NULL DEFAULT false,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempted_at      TIMESTAMPTZ,
    finalized_at      TIMESTAMPTZ,
    CHECK (state NOT IN ('completed', 'discarded', 'cancelled') OR finalized_at IS NOT NULL)
) WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- Claim: per tenant, the next available jobs by priority then age (also drives the tenant scan).
CREATE INDEX jobs_claim_idx ON encours.jobs (tenant_id, priority, run_at, id) WHERE state = 'available';
-- Promotion of scheduled and retryable jobs whose time has come.
CREATE INDEX jobs_due_idx ON encours.jobs (run_at) WHERE state IN ('scheduled', 'retryable');
-- Rescue of expired leases.
CREATE INDEX jobs_running_lease_idx ON encours.jobs (lease_expires_at) WHERE state = 'running';
-- Per-tenant running counts, for max_concurrent_jobs.
CREATE INDEX jobs_running_tenant_idx ON encours.jobs (tenant_id) WHERE state = 'running';
-- Retention pruning of finished jobs.
CREATE INDEX jobs_finalized_idx ON encours.jobs (finalized_at) WHERE state IN ('completed', 'discarded', 'cancelled');
-- Unique jobs: no second unfinished job with the same tenant, kind and key.
CREATE UNIQUE INDEX jobs_unique_idx ON encours.jobs (tenant_id, kind, unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');
-- Listing by kind and state for the admin CLI.
CREATE INDEX jobs_state_kind_idx ON encours.jobs (state, kind);

-- Wake listening workers when jobs become available. Statement-level, so a batch insert
-- sends one notification; NOTIFY is delivered at commit, so transactional enqueue stays atomic.
CREATE FUNCTION encours.notify_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('encours_jobs', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_insert AFTER INSERT ON encours.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION encours.notify_jobs_inserted();

CREATE TABLE encours.workers (
    id                TEXT PRIMARY KEY,
    host              TEXT NOT NULL,
    pid               INTEGER NOT NULL,
    concurrency       INTEGER NOT NULL,
    kinds             TEXT[],
    started_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per elected role (today only 'maintenance': retention pruning, registry cleanup).
CREATE TABLE encours.leaders (
    name       TEXT PRIMARY KEY,
    worker_id  TEXT NOT NULL,
    elected_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);

-- Claims up to p_limit available jobs for a worker, fairly across tenants.
--
-- 1. Active tenants are found by a loose index scan of jobs_claim_idx, starting after p_cursor
--    and wrapping around, so successive claims rotate through tenants (at most p_limit of them).
-- 2. Tenants with max_concurrent_jobs are locked (FOR UPDATE SKIP LOCKED: a tenant another worker
--    is claiming for right now is skipped this round), then their running jobs are counted in a
--    new statement, whose snapshot sees every earlier claim. So the cap holds across processes.
-- 3. Each tenant gets an equal share of the batch (at least one), capped by its free slots;
--    within a tenant, jobs go by priority, then run_at, then id.
CREATE FUNCTION encours.claim_jobs(
    p_worker_id   TEXT,
    p_limit       INTEGER,
    p_lease       INTERVAL,
    p_cursor      BIGINT,
    p_tenants     BIGINT[],
    p_exclude     BIGINT[],
    p_kinds       TEXT[]
) RETURNS SETOF encours.jobs
LANGUAGE plpgsql VOLATILE
-- Plans are made for the values at hand: a generic plan cached while the table was small
-- could keep a sequential scan as it grows.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_tenants   BIGINT[] := '{}';
    v_next      BIGINT;
    v_capped    BIGINT[];
    v_quota     INTEGER;
BEGIN
    IF p_limit <= 0 THEN
        RETURN;
    END IF;

    IF p_tenants IS NOT NULL THEN
        SELECT coalesce(array_agg(t ORDER BY (t <= p_cursor), t), '{}') INTO v_tenants
        FROM unnest(p_tenants) AS t
        WHERE EXISTS (SELECT 1 FROM encours.jobs j WHERE j.state = 'available' AND j.tenant_id = t)
          AND (p_exclude IS NULL OR t <> ALL (p_exclude));
        v_tenants := v_tenants[1:p_limit];
    ELSE
        -- Loose index scan: each step is one probe of jobs_claim_idx.
        v_next := p_cursor;
        LOOP
            EXIT WHEN coalesce(array_length(v_tenants, 1), 0) >= p_limit;
            SELECT j.tenant_id INTO v_next FROM encours.jobs j
            WHERE j.state = 'available' AND j.tenant_id > v_next
              AND (p_exclude IS NULL OR j.tenant_id <> ALL (p_exclude))
            ORDER BY j.tenant_id LIMIT 1;
            EXIT WHEN NOT FOUND;
            v_tenants := v_tenants || v_next;
        END LOOP;
        -- Wrap around to the tenants at or before the cursor.
        v_next := -1;
        LOOP
            EXIT WHEN coalesce(array_length(v_tenants, 1), 0) >= p_limit;
            SELECT j.tenant_id INTO v_next FROM encours.jobs j
            WHERE j.state = 'available' AND j.tenant_id > v_next AND j.tenant_id <= p_cursor
              AND (p_exclude IS NULL OR j.tenant_id <> ALL (p_exclude))
            ORDER BY j.tenant_id LIMIT 1;
            EXIT WHEN NOT FOUND;
            v_tenants := v_tenants || v_next;
        END LOOP;
    END IF;

    IF coalesce(array_length(v_tenants, 1), 0) = 0 THEN
        RETURN;
    END IF;

    -- Lock the capped tenants among them; a capped tenant locked by another claimer is skipped.
    SELECT coalesce(array_agg(t.id), '{}') INTO v_capped FROM (
        SELECT id FROM encours.tenants
        WHERE id = ANY (v_tenants) AND max_concurrent_jobs IS NOT NULL
        ORDER BY id
        FOR NO KEY UPDATE SKIP LOCKED
    ) t;

    v_quota := greatest(1, ceil(p_limit::numeric / array_length(v_tenants, 1))::integer);

    RETURN QUERY
    WITH active AS (
        SELECT a.tenant_id, a.ordinality,
               CASE
                   WHEN t.max_concurrent_jobs IS NULL THEN v_quota
                   WHEN t.id = ANY (v_capped) THEN least(v_quota, greatest(0, t.max_concurrent_jobs - (
                       SELECT count(*) FROM encours.jobs r
                       WHERE r.state = 'running' AND r.tenant_id = t.id)::integer))
                   ELSE 0
               END AS allowance
        FROM unnest(v_tenants) WITH ORDINALITY AS a (tenant_id, ordinality)
        JOIN encours.tenants t ON t.id = a.tenant_id
    ),
    picked AS (
        SELECT c.id
        FROM active
        CROSS JOIN LATERAL (
            SELECT j.id FROM encours.jobs j
            WHERE j.state = 'available' AND j.tenant_id = active.tenant_id
              AND (p_kinds IS NULL OR j.kind = ANY (p_kinds))
            ORDER BY j.priority, j.run_at, j.id
            LIMIT active.allowance
            FOR UPDATE SKIP LOCKED
        ) c
        WHERE active.allowance > 0
        LIMIT p_limit
    )
    UPDATE encours.jobs j
    SET state = 'running',
        attempt = j.attempt + 1,
        attempted_at = now(),
        attempted_by = j.attempted_by || p_worker_id,
        worker_id = p_worker_id,
        lease_expires_at = now() + p_lease
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.*;
END;
$$;
