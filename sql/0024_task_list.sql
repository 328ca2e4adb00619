-- The task list in other orders than by id (server/queries/taskList.ts).
--
-- No index serves those orders, on purpose: a status change is not a HOT update (status
-- is indexed), so every index on tasks takes a new entry at every change of every task,
-- on the claim's write path. Measured with EXPLAIN at 100,000 tasks, an index per order
-- made a sorted page 4 ms instead of 35-65 ms (a top-N sort of the rows the filter
-- matches); a list someone is looking at can afford the latter, the queue's throughput
-- cannot afford four more index writes per status change. The default order, by id, is
-- the primary key's; a filter (workflow, step, status) narrows what is sorted.

-- The order of a task's life (shared/schemas/task.ts TASK_STATUSES), which `sort=status`
-- follows rather than the alphabet.
CREATE FUNCTION task_status_rank(status text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN
  array_position('{waiting,blocked,held,pending,assigned,downloading,running,uploading,succeeded,failed,cancelled}'::text[], status);
