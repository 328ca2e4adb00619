-- The `ready` phase (shared/schemas/execution.ts LIVE_STATUSES): an execution claimed ahead of
-- a free slot (--prefetch) whose downloads are done waits for a run slot as `ready`, no longer
-- as `downloading`. It is live: the index that keeps one live execution per task, and the one
-- that finds a worker's live executions, hold it too; the task list sorts it between the two.
DROP INDEX executions_one_live;
CREATE UNIQUE INDEX executions_one_live ON executions (task_id)
  WHERE status IN ('assigned', 'downloading', 'ready', 'running', 'uploading');
DROP INDEX executions_worker_live;
CREATE INDEX executions_worker_live ON executions (worker_id)
  WHERE status IN ('assigned', 'downloading', 'ready', 'running', 'uploading');

CREATE OR REPLACE FUNCTION task_status_rank(status text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN
  array_position('{waiting,blocked,held,pending,assigned,downloading,ready,running,uploading,succeeded,failed,cancelled}'::text[], status);
