-- 0005: a queue that never stalls and whose every write is fenced.
--
-- * Claims find tenants that have jobs this worker may take: of its kinds, not excluded, under
--   their max_concurrent_jobs and not being claimed by another worker right now. The claim index
--   leads with the kind, so both the tenant scan and each tenant's pick are index seeks, and an
--   excluded tenant costs one seek however large its backlog.
-- * A claim with room left after equal shares fills it from the tenants that have more.
-- * Attempts only grow. uncounted_attempts holds the attempts that do not count against
--   max_attempts (released at shutdown, or made before a manual retry), so fences on
--   (worker_id, attempt) can never match a later run of the same job.
-- * Error history and attempted_by keep the last 20 entries; errors_dropped counts the others.

ALTER TABLE encours.jobs
    ADD COLUMN uncounted_attempts INTEGER NOT NULL DEFAULT 0 CHECK (uncounted_attempts >= 0),
    ADD COLUMN errors_dropped INTEGER NOT NULL DEFAULT 0 CHECK (errors_dropped >= 0);

DROP INDEX encours.jobs_claim_idx;
-- Claim: per kind, then tenant, the next available jobs by priority then age (drives the tenant scan).
CREATE INDEX jobs_claim_idx ON encours.jobs (kind, tenant_id, priority, run_at, id) WHERE state = 'available';

-- The error history with one more entry, keeping the newest 20.
CREATE FUNCTION encours.capped_errors(p_errors JSONB, p_entry JSONB) RETURNS JSONB
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_array_length(p_errors) >= 20
                THEN (p_errors - 0) || jsonb_build_array(p_entry)
                ELSE p_errors || jsonb_build_array(p_entry) END
$$;

-- How many entries capped_errors drops when it adds one to p_errors (0 or 1).
CREATE FUNCTION encours.dropped_errors(p_errors JSONB) RETURNS INTEGER
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_array_length(p_errors) >= 20 THEN 1 ELSE 0 END
$$;

-- The delay before the next attempt after counted attempt p_attempt failed: p_base × 2^(n−1),
-- capped at p_maximum, ±p_jitter (the worker's RetryPolicy, for the jobs SQL retries itself).
CREATE FUNCTION encours.retry_delay(p_attempt INTEGER, p_base DOUBLE PRECISION, p_maximum DOUBLE PRECISION, p_jitter DOUBLE PRECISION)
RETURNS INTERVAL
LANGUAGE sql VOLATILE AS $$
    SELECT make_interval(secs => least(p_maximum, p_base * power(2::double precision, least(greatest(p_attempt - 1, 0), 40)))
                                 * (1 + p_jitter * (2 * random() - 1)))
$$;

-- How many more jobs a worker may start for a tenant in this claim: p_limit when it has no
-- max_concurrent_jobs; else its free slots, counted after locking its row (FOR NO KEY UPDATE
-- SKIP LOCKED) in a fresh statement, so every claim committed before sees its running jobs.
-- A tenant another worker is claiming for right now gets 0 (it is next round's).
CREATE FUNCTION encours.claim_room(p_tenant BIGINT, p_limit INTEGER) RETURNS INTEGER
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_cap     INTEGER;
    v_running INTEGER;
BEGIN
    SELECT max_concurrent_jobs INTO v_cap FROM encours.tenants WHERE id = p_tenant;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF v_cap IS NULL THEN
        RETURN p_limit;
    END IF;
    PERFORM 1 FROM encours.tenants WHERE id = p_tenant FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    SELECT count(*) INTO v_running FROM encours.jobs WHERE state = 'running' AND tenant_id = p_tenant;
    RETURN least(p_limit, greatest(0, v_cap - v_running));
END;
$$;

DROP FUNCTION encours.claim_jobs(TEXT, INTEGER, INTERVAL, BIGINT, BIGINT[], BIGINT[], TEXT[]);

-- Claims up to p_limit available jobs of the kinds p_kinds for worker p_worker_id, fairly
-- across tenants.
--
-- 1. Claimable tenants are visited in id order after p_cursor, wrapping around: each kind's
--    next tenant is one seek of jobs_claim_idx, and tenants are merged from those heads. A
--    tenant is claimable when it is not excluded (p_exclude; one seek skips it whatever its
--    backlog), is listed (p_tenants, when given) and has room (claim_room). At most p_limit
--    claimable tenants are kept; the tenants passed over do not use up the claim.
-- 2. Shares: what is left of p_limit is split equally among the tenants that may still give
--    (the first in visit order get one more when it does not divide), each capped by its
--    room; a tenant that gives less than its share is done, and the rest is shared again among
--    those that gave it all, until the claim is full or no tenant has more. Within a tenant,
--    jobs go by priority, then run_at, then id; rows other claimers hold are skipped.
--
-- The worker moves its cursor to the last tenant it got jobs from, so over successive claims
-- every claimable tenant is visited at least once every ceil(claimable tenants / p_limit) claims.
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
    v_kind        TEXT;
    v_heads       BIGINT[];
    v_candidate   BIGINT;
    v_room        INTEGER;
    v_low         BIGINT;
    v_high        BIGINT;
    v_sweep       INTEGER;
    v_index       INTEGER;
    v_found       BOOLEAN;
    -- The claimable tenants in visit order, how many jobs each may still give, and whether it may give more.
    v_tenants     BIGINT[] := '{}';
    v_rooms       INTEGER[] := '{}';
    v_open        BOOLEAN[] := '{}';
    -- (tenant position, kind) pairs: the kinds each claimable tenant has available.
    v_pair_at     INTEGER[] := '{}';
    v_pair_kind   TEXT[] := '{}';
    v_shares      INTEGER[];
    v_got         INTEGER[];
    v_taken       INTEGER[];
    v_left        INTEGER;
    v_claimed     INTEGER;
    v_open_count  INTEGER;
    v_rank        INTEGER;
    v_count       INTEGER;
BEGIN
    -- Only the statements that read tables are SQL; the bookkeeping on these small arrays is
    -- plpgsql expressions, which are not planned per call (each planned statement costs more
    -- than the probe it makes).
    v_count := coalesce(cardinality(p_kinds), 0);
    IF p_limit <= 0 OR v_count = 0 THEN
        RETURN;
    END IF;

    IF p_tenants IS NOT NULL THEN
        -- Listed tenants, rotated to start after the cursor.
        FOREACH v_candidate IN ARRAY ARRAY(
            SELECT listed.t FROM (
                SELECT DISTINCT t FROM unnest(p_tenants) AS t
                WHERE t IS NOT NULL AND (p_exclude IS NULL OR t <> ALL (p_exclude))
            ) listed
            ORDER BY (listed.t <= p_cursor), listed.t)
        LOOP
            EXIT WHEN cardinality(v_tenants) >= p_limit;
            v_found := false;
            FOREACH v_kind IN ARRAY p_kinds LOOP
                IF EXISTS (SELECT 1 FROM encours.jobs j WHERE j.state = 'available' AND j.kind = v_kind AND j.tenant_id = v_candidate) THEN
                    IF NOT v_found THEN
                        v_room := encours.claim_room(v_candidate, p_limit);
                        EXIT WHEN v_room <= 0;
                        v_tenants := v_tenants || v_candidate;
                        v_rooms := v_rooms || v_room;
                        v_open := v_open || true;
                        v_found := true;
                    END IF;
                    v_pair_at := v_pair_at || cardinality(v_tenants);
                    v_pair_kind := v_pair_kind || v_kind;
                END IF;
            END LOOP;
        END LOOP;
    ELSE
        -- Sweep 1: tenants after the cursor; sweep 2: wrap around to those at or before it.
        FOR v_sweep IN 1..2 LOOP
            EXIT WHEN cardinality(v_tenants) >= p_limit;
            IF v_sweep = 1 THEN
                v_low := p_cursor;
                v_high := NULL;
            ELSE
                v_low := -9223372036854775807;
                v_high := p_cursor;
            END IF;
            -- Each kind's next tenant with available jobs: one seek each.
            v_heads := '{}';
            FOREACH v_kind IN ARRAY p_kinds LOOP
                v_heads := v_heads || (SELECT j.tenant_id FROM encours.jobs j
                                       WHERE j.state = 'available' AND j.kind = v_kind AND j.tenant_id > v_low
                                         AND (v_high IS NULL OR j.tenant_id <= v_high)
                                       ORDER BY j.tenant_id LIMIT 1);
            END LOOP;
            LOOP
                EXIT WHEN cardinality(v_tenants) >= p_limit;
                v_candidate := NULL;
                FOR v_index IN 1..v_count LOOP
                    IF v_heads[v_index] IS NOT NULL AND (v_candidate IS NULL OR v_heads[v_index] < v_candidate) THEN
                        v_candidate := v_heads[v_index];
                    END IF;
                END LOOP;
                EXIT WHEN v_candidate IS NULL;
                IF p_exclude IS NULL OR v_candidate <> ALL (p_exclude) THEN
                    v_room := encours.claim_room(v_candidate, p_limit);
                    IF v_room > 0 THEN
                        v_tenants := v_tenants || v_candidate;
                        v_rooms := v_rooms || v_room;
                        v_open := v_open || true;
                        FOR v_index IN 1..v_count LOOP
                            IF v_heads[v_index] = v_candidate THEN
                                v_pair_at := v_pair_at || cardinality(v_tenants);
                                v_pair_kind := v_pair_kind || p_kinds[v_index];
                            END IF;
                        END LOOP;
                    END IF;
                END IF;
                -- Move the heads at this tenant to their kind's next tenant: one seek each.
                FOR v_index IN 1..v_count LOOP
                    IF v_heads[v_index] = v_candidate THEN
                        v_heads[v_index] := (SELECT j.tenant_id FROM encours.jobs j
                                             WHERE j.state = 'available' AND j.kind = p_kinds[v_index] AND j.tenant_id > v_candidate
                                               AND (v_high IS NULL OR j.tenant_id <= v_high)
                                             ORDER BY j.tenant_id LIMIT 1);
                    END IF;
                END LOOP;
            END LOOP;
        END LOOP;
    END IF;

    v_count := cardinality(v_tenants);
    IF v_count = 0 THEN
        RETURN;
    END IF;

    v_left := p_limit;
    v_taken := array_fill(0, ARRAY[v_count]);
    LOOP
        v_open_count := 0;
        FOR v_index IN 1..v_count LOOP
            IF v_open[v_index] THEN v_open_count := v_open_count + 1; END IF;
        END LOOP;
        EXIT WHEN v_left <= 0 OR v_open_count = 0;
        -- Equal shares of what is left among the open tenants (the first in visit order get one
        -- more when it does not divide), capped by each one's room.
        v_shares := array_fill(0, ARRAY[v_count]);
        v_rank := 0;
        FOR v_index IN 1..v_count LOOP
            IF v_open[v_index] THEN
                v_rank := v_rank + 1;
                v_shares[v_index] := least(v_rooms[v_index],
                    v_left / v_open_count + CASE WHEN v_rank <= v_left % v_open_count THEN 1 ELSE 0 END);
            END IF;
        END LOOP;

        -- The jobs are picked (and locked) first, then updated by primary key: a join here lets
        -- the planner hash the whole table when it misjudges how many rows the picks return.
        RETURN QUERY
        UPDATE encours.jobs j
        SET state = 'running',
            attempt = j.attempt + 1,
            attempted_at = now(),
            attempted_by = (j.attempted_by || p_worker_id)[greatest(1, cardinality(j.attempted_by) - 18):],
            worker_id = p_worker_id,
            lease_expires_at = now() + p_lease
        WHERE j.id = ANY (ARRAY(
            -- Each tenant's share, merged over its kinds in priority, run_at, id order.
            SELECT ranked.id
            FROM (
                SELECT x.id, wanted.share,
                       row_number() OVER (PARTITION BY p.position ORDER BY x.priority, x.run_at, x.id) AS rank
                FROM unnest(v_pair_at, v_pair_kind) AS p (position, kind)
                JOIN (SELECT w.share, w.position FROM unnest(v_shares) WITH ORDINALITY AS w (share, position) WHERE w.share > 0) wanted
                    ON wanted.position = p.position
                CROSS JOIN LATERAL (
                    SELECT c.id, c.priority, c.run_at FROM encours.jobs c
                    WHERE c.state = 'available' AND c.kind = p.kind AND c.tenant_id = v_tenants[p.position]
                    ORDER BY c.priority, c.run_at, c.id
                    LIMIT wanted.share
                    FOR UPDATE SKIP LOCKED
                ) x
            ) ranked
            WHERE ranked.rank <= ranked.share
        ))
        RETURNING j.*;
        GET DIAGNOSTICS v_claimed = ROW_COUNT;
        v_left := v_left - v_claimed;
        EXIT WHEN v_left <= 0;

        -- What each tenant has given so far: the rows this transaction made running.
        SELECT array_agg(coalesce(g.count, 0)::integer ORDER BY t.position) INTO v_got
        FROM unnest(v_tenants) WITH ORDINALITY AS t (tenant_id, position)
        LEFT JOIN (SELECT j.tenant_id, count(*) AS count FROM encours.jobs j
                   WHERE j.state = 'running' AND j.tenant_id = ANY (v_tenants) AND j.xmin = pg_current_xact_id()::xid
                   GROUP BY j.tenant_id) g ON g.tenant_id = t.tenant_id;
        -- A tenant that gave less than its share has no more (or others hold it); one that
        -- used its room is done too. The others share what is left in the next round.
        FOR v_index IN 1..v_count LOOP
            IF v_shares[v_index] > 0 THEN
                v_room := v_got[v_index] - v_taken[v_index];
                v_rooms[v_index] := v_rooms[v_index] - v_room;
                v_taken[v_index] := v_got[v_index];
                IF v_room < v_shares[v_index] OR v_rooms[v_index] <= 0 THEN
                    v_open[v_index] := false;
                END IF;
            END IF;
        END LOOP;
    END LOOP;
END;
$$;
