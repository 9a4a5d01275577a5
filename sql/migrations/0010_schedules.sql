-- Per-tenant schedules: the cron settings dunning_schedule, risk_schedule and disputes_schedule,
-- evaluated by the workers in the tenant's time zone.
--
-- Every worker runs a scheduler; each pass takes a transaction-scoped advisory lock, so one
-- pass runs at a time, reads each schedule's cursor (the instant it was evaluated through),
-- enqueues the job of every instant after it up to now, and moves the cursor, all in one
-- transaction. An instant is a primary key of schedule_runs, inserted with its job: enqueued
-- exactly once however many workers run, and a pass that dies records nothing (the next one
-- does its work). A schedule seen for the first time starts at the pass's time (no backfill).

CREATE TABLE encours.schedule_cursors (
    tenant_id          BIGINT NOT NULL REFERENCES encours.tenants (id) ON DELETE CASCADE,
    schedule           TEXT NOT NULL CHECK (schedule IN ('dunning', 'risk', 'disputes')),
    -- The expression last evaluated, for `encours schedules`.
    expression         TEXT NOT NULL,
    evaluated_through  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, schedule)
);

CREATE TABLE encours.schedule_runs (
    tenant_id    BIGINT NOT NULL REFERENCES encours.tenants (id) ON DELETE CASCADE,
    schedule     TEXT NOT NULL CHECK (schedule IN ('dunning', 'risk', 'disputes')),
    instant      TIMESTAMPTZ NOT NULL,
    -- The job enqueued; NULL when an unfinished job with the same unique key already stood for it
    -- (a dunning run of that date asked for by hand, say).
    job_id       BIGINT,
    enqueued_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Also the index of `encours schedules` (a tenant's latest runs of a schedule).
    PRIMARY KEY (tenant_id, schedule, instant)
);

-- The scheduler runs as the schema owner across tenants (like the queue's maintenance); a
-- tenant's scope sees its own rows only, read-only.
DO $$
DECLARE
    v_table TEXT;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['schedule_cursors', 'schedule_runs'] LOOP
        EXECUTE format('ALTER TABLE encours.%I ENABLE ROW LEVEL SECURITY', v_table);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON encours.%I TO encours_tenant USING (tenant_id = (SELECT encours.current_tenant_id()))',
            v_table);
        EXECUTE format('GRANT SELECT ON encours.%I TO encours_tenant', v_table);
    END LOOP;
END;
$$;
