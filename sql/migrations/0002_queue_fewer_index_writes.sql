-- 0002: fewer index writes per job state change (measured in BENCHMARKS.md).
--
-- Every claim and completion changes `state`, so it writes a new entry into each index whose
-- predicate the new row matches. Two indexes cost more than they gave:
-- * jobs_state_kind_idx covered every row and only served `jobs list`, which can walk the
--   primary key (newest first) instead;
-- * jobs_running_lease_idx indexed lease_expires_at, so every heartbeat was a non-HOT update.
--   The running set is small (workers × concurrency): rescue scans jobs_running_tenant_idx whole.
DROP INDEX encours.jobs_state_kind_idx;
DROP INDEX encours.jobs_running_lease_idx;

-- The foreign key to tenants ran a lookup per inserted job (a third of enqueue time in
-- BENCHMARKS.md). Tenants are never deleted, and every enqueue path resolves the tenant first
-- (the CLI by slug, handlers from the job they run), so the queue keeps no foreign key, like its peers.
ALTER TABLE encours.jobs DROP CONSTRAINT jobs_tenant_id_fkey;
