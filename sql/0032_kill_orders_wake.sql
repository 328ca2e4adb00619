-- The wake-up of 0016, for a kill order asked for again too (a cancel or kill with a shorter
-- grace than the order under way: server/commands/lockExecutions.ts killIsNews): it changes
-- `kill_requested_at`, which was set already, and the worker's parked poll must answer with
-- the new grace (server/workers/poll.ts). The rest as 0016 left it.
CREATE OR REPLACE FUNCTION executions_work_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM work_notify((SELECT string_agg(DISTINCT 'worker:' || n.worker_id, ',')
                       FROM new_rows n JOIN old_rows o USING (id)
                       WHERE (n.kill_requested_at IS NOT NULL AND o.kill_requested_at IS DISTINCT FROM n.kill_requested_at)
                          OR (o.status NOT IN ('lost', 'cancelled') AND n.status IN ('lost', 'cancelled'))
                          OR o.suspended <> n.suspended));
  RETURN NULL;
END
$$;
