-- Inserts :count available jobs into ceiling.jobs (psql -v count=N), then refreshes statistics.
INSERT INTO ceiling.jobs (payload)
SELECT '{}'::jsonb FROM generate_series(1, :count);

ANALYZE ceiling.jobs;
