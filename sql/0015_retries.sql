-- Retry policies: each failed attempt has a class, a task says which classes it retries and
-- how long it backs off between attempts, and its memory requirement may follow a curve
-- that rises after each `oom` failure (requirements.memory_mb stays the current attempt's).
-- Tasks and executions that exist already get what a rebuild of their events gives: the
-- defaults of shared/schemas/task.ts (DEFAULT_RETRY_ON, DEFAULT_BACKOFF) and the classes
-- inferred from the statuses (server/projections/executions.ts).
ALTER TABLE tasks
  ADD COLUMN retry_on     jsonb,
  ADD COLUMN backoff      jsonb,
  ADD COLUMN memory_curve integer[],
  ADD COLUMN retry_at     timestamptz;
UPDATE tasks SET retry_on = '["exit", "timeout", "oom", "lost", "download", "upload"]',
                 backoff = '{"base_seconds": 10, "cap_seconds": 600}';
ALTER TABLE tasks ALTER COLUMN retry_on SET NOT NULL, ALTER COLUMN backoff SET NOT NULL;

-- Backoffs that end are found by the reaper through this index, which holds only pending
-- tasks that failed and were told to wait (until they are claimed again).
CREATE INDEX tasks_backing_off ON tasks (retry_at) WHERE status = 'pending' AND retry_at IS NOT NULL;

ALTER TABLE executions
  ADD COLUMN failure_class text,
  ADD COLUMN cpu_seconds   double precision;
UPDATE executions SET failure_class = CASE status
  WHEN 'failed' THEN 'exit' WHEN 'refused' THEN 'refused' WHEN 'killed' THEN 'killed' WHEN 'lost' THEN 'lost' END;
