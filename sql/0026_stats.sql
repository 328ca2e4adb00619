-- The overview (GET /stats) and the stuck flag of steps and workflows (server/queries/stats.ts,
-- server/queries/stuck.ts). Without these, each read scanned the whole executions table or
-- every task of a step, finished ones included (docs/architecture.md, "The overview").

-- Executions that finished in the last minutes, for the finishes per minute: a range read
-- whose entries carry what is counted, so that old, settled rows are read from the index alone.
CREATE INDEX executions_finished ON executions (finished_at) INCLUDE (status, failure_class) WHERE finished_at IS NOT NULL;

-- The latest failed executions: failures are few, so this stays small.
CREATE INDEX executions_failed ON executions (finished_at, id) WHERE failure_class IS NOT NULL;

-- The pending tasks of a step or a workflow that a worker could be asked to take. A task
-- enters these only when it becomes pending (submitted, released, requeued, resumed), so
-- the claim, which takes tasks out, writes nothing more.
CREATE INDEX tasks_pending_step ON tasks (step_id) WHERE status = 'pending' AND NOT paused AND step_id IS NOT NULL;
CREATE INDEX tasks_pending_workflow ON tasks (workflow_id) WHERE status = 'pending' AND NOT paused AND workflow_id IS NOT NULL;
