-- Targeted wake-ups for parked polls, on the channel labq_work. A parked poll used to run
-- a round on every event of every task, worker and execution: with hundreds of workers
-- parked, each change cost hundreds of transactions that found nothing. Now a payload
-- names only who could act on the change, as comma-separated tokens:
--   tag:T      tasks tagged T became pending (claimable by workers that take T, or *);
--   worker:N   something for worker N: its settings changed, a kill order for one of its
--              executions, or one of its executions was lost (it must abandon it);
--   *          too many to name (a payload is at most 8000 bytes): every parked poll looks.
-- NOTIFY is a hint; a poll still looks at least every third of a lease, and every poll
-- looks again when the LISTEN connection comes back, since notifications may be missed.
CREATE FUNCTION work_notify(tokens text) RETURNS void LANGUAGE sql AS $$
  SELECT pg_notify('labq_work', CASE WHEN length(tokens) > 7000 THEN '*' ELSE tokens END)
  WHERE tokens IS NOT NULL
$$;

CREATE FUNCTION tasks_pending_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM work_notify((SELECT string_agg(DISTINCT 'tag:' || tag, ',') FROM new_rows WHERE status = 'pending'));
  RETURN NULL;
END
$$;

CREATE FUNCTION tasks_pending_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM work_notify((SELECT string_agg(DISTINCT 'tag:' || n.tag, ',')
                       FROM new_rows n JOIN old_rows o USING (id)
                       WHERE n.status = 'pending' AND (o.status <> 'pending' OR o.tag <> n.tag)));
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_work_insert AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_pending_on_insert();
CREATE TRIGGER tasks_work_update AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tasks_pending_on_update();

CREATE FUNCTION executions_work_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM work_notify((SELECT string_agg(DISTINCT 'worker:' || n.worker_id, ',')
                       FROM new_rows n JOIN old_rows o USING (id)
                       WHERE (o.kill_requested_at IS NULL AND n.kill_requested_at IS NOT NULL)
                          OR (o.status <> 'lost' AND n.status = 'lost')));
  RETURN NULL;
END
$$;

CREATE TRIGGER executions_work_update AFTER UPDATE ON executions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION executions_work_on_update();

CREATE FUNCTION workers_work_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM work_notify((SELECT string_agg(DISTINCT 'worker:' || n.id, ',')
                       FROM new_rows n JOIN old_rows o USING (id)
                       WHERE n.settings_version <> o.settings_version));
  RETURN NULL;
END
$$;

CREATE TRIGGER workers_work_update AFTER UPDATE ON workers
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION workers_work_on_update();
