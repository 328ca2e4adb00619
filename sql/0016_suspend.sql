-- Suspend and continue of running executions. `suspended` is the state the user asked for
-- (execution.suspend_requested / execution.continue_requested), not what the worker did:
-- each poll answer lists the worker's executions that must be suspended, and the worker
-- converges to that list (Docker pause/unpause, SIGSTOP/SIGCONT to a bare task's group).
ALTER TABLE executions ADD COLUMN suspended boolean NOT NULL DEFAULT false;
ALTER TABLE executions ADD COLUMN suspended_at timestamptz;

-- The wake-up of 0014 (itself 0009's with cancelled executions), plus a change of
-- `suspended`: the worker's parked poll answers with the new list. Replaced rather than
-- doubled by a second trigger, so an update of executions (every phase change) still joins
-- its transition tables once.
CREATE OR REPLACE FUNCTION executions_work_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM work_notify((SELECT string_agg(DISTINCT 'worker:' || n.worker_id, ',')
                       FROM new_rows n JOIN old_rows o USING (id)
                       WHERE (o.kill_requested_at IS NULL AND n.kill_requested_at IS NOT NULL)
                          OR (o.status NOT IN ('lost', 'cancelled') AND n.status IN ('lost', 'cancelled'))
                          OR o.suspended <> n.suspended));
  RETURN NULL;
END
$$;
