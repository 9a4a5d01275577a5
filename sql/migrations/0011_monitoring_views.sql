-- Monitoring views, for scripts and dashboards that prefer SQL to /metrics. Each reads the
-- queue once; none is under a tenant's scope (grant SELECT to a monitoring role as needed:
-- GRANT USAGE ON SCHEMA encours TO monitor; GRANT SELECT ON encours.queue_depth, ... TO monitor).

-- Unfinished jobs by state, kind and tenant, with the age of the oldest: since its due time
-- (run_at) for jobs waiting, since its claim for running ones.
CREATE VIEW encours.queue_depth AS
SELECT j.state::text AS state, j.kind, t.slug AS tenant, count(*) AS jobs,
       greatest(0, extract(epoch FROM now() - min(CASE WHEN j.state = 'running' THEN j.attempted_at ELSE j.run_at END)))::float8
           AS oldest_age_seconds
FROM encours.jobs j
JOIN encours.tenants t ON t.id = j.tenant_id
WHERE j.state IN ('available', 'scheduled', 'running', 'retryable')
GROUP BY j.state, j.kind, t.slug;

-- Jobs ready to run now (available, or scheduled/retryable and due) by kind and tenant, with the
-- wait of the oldest since its due time: the age an operator alerts on, and KEDA's scaling signal.
CREATE VIEW encours.oldest_due_jobs AS
SELECT j.kind, t.slug AS tenant, count(*) AS due_jobs,
       extract(epoch FROM now() - min(j.run_at))::float8 AS oldest_wait_seconds
FROM encours.jobs j
JOIN encours.tenants t ON t.id = j.tenant_id
WHERE j.state IN ('available', 'scheduled', 'retryable') AND j.run_at <= now()
GROUP BY j.kind, t.slug;

-- Running jobs whose lease lapsed: their worker stopped heartbeating; the maintenance leader
-- rescues them within a quarter lease, so rows that stay here mean no worker is rescuing.
CREATE VIEW encours.lapsed_leases AS
SELECT j.id AS job_id, t.slug AS tenant, j.kind, j.worker_id, j.attempt, j.lease_expires_at,
       extract(epoch FROM now() - j.lease_expires_at)::float8 AS lapsed_seconds
FROM encours.jobs j
JOIN encours.tenants t ON t.id = j.tenant_id
WHERE j.state = 'running' AND j.lease_expires_at < now();

-- Workers with their last heartbeat and the jobs they run now.
CREATE VIEW encours.worker_status AS
SELECT w.id AS worker_id, w.host, w.pid, w.concurrency, w.started_at, w.last_heartbeat_at,
       extract(epoch FROM now() - w.last_heartbeat_at)::float8 AS heartbeat_age_seconds,
       (SELECT count(*) FROM encours.jobs j WHERE j.state = 'running' AND j.worker_id = w.id) AS running_jobs
FROM encours.workers w;
