-- The bare job table of the pgbench ceiling (see ceiling.pgbench, run_ceiling.sh).
-- Recreated from scratch on every run.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS ceiling CASCADE;
CREATE SCHEMA ceiling;

CREATE TABLE ceiling.jobs (
    id           bigserial   PRIMARY KEY,
    state        text        NOT NULL DEFAULT 'available',
    payload      jsonb       NOT NULL DEFAULT '{}',
    priority     smallint    NOT NULL DEFAULT 2,
    run_at       timestamptz NOT NULL DEFAULT now(),
    finalized_at timestamptz
);

-- What a claim walks: the available jobs in claim order.
CREATE INDEX jobs_claim_idx ON ceiling.jobs (priority, run_at, id) WHERE state = 'available';
