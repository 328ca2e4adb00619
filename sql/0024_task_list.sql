-- The task list in other orders than by id (server/queries/taskList.ts). Measured with EXPLAIN at 100,000 tasks: without
-- these, every page of a sorted list scanned and sorted the whole table (35-65 ms a page,
-- and growing with the table), against 4 ms through an index; a deep offset (90,000)
-- 80 ms against 16-19 ms. Each index is (key, id), the order of the list with its
-- tie-break, so a page and a cursor's resumption are one index range. (The tasks of one
-- worker find its executions through executions_by_worker, sql/0025_worker_metrics.sql:
-- 11 ms against 45 ms when every execution was scanned.)

-- The order of a task's life (shared/schemas/task.ts TASK_STATUSES), which `sort=status`
-- follows rather than the alphabet. Immutable, so an index can hold it.
CREATE FUNCTION task_status_rank(status text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN
  array_position('{waiting,blocked,held,pending,assigned,downloading,running,uploading,succeeded,failed,cancelled}'::text[], status);

CREATE INDEX tasks_by_priority ON tasks (priority, id);
CREATE INDEX tasks_by_submitted ON tasks (submitted_at, id);
CREATE INDEX tasks_by_updated ON tasks (updated_at, id);
CREATE INDEX tasks_by_status_rank ON tasks (task_status_rank(status), id);
