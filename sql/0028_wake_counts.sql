-- Wake-ups that say how many: `tag:T:N` on labq_work, N the tasks of tag T that became
-- claimable in the statement, so that a server process wakes only as many of its parked
-- polls as have free slots for them (server/workers/wakeups.ts) instead of every poll of the
-- tag. Same bodies as 0014 otherwise. A payload too long still becomes `*` (work_notify).
--
-- PostgreSQL delivers the identical notifications of one transaction once: two statements of
-- one transaction that each made one task of a tag claimable (the releases of two workers'
-- dependents in one exchange batch) would be one `tag:T:1`, and one poll fewer woken. A
-- serial number (`#N`, which readers pass by) makes every payload its own.
CREATE SEQUENCE work_notify_serial;

CREATE OR REPLACE FUNCTION work_notify(tokens text) RETURNS void LANGUAGE sql AS $$
  SELECT pg_notify('labq_work', CASE WHEN length(tokens) > 7000 THEN '*' ELSE tokens || ',#' || nextval('work_notify_serial') END)
  WHERE tokens IS NOT NULL
$$;
CREATE OR REPLACE FUNCTION tasks_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_counts (scope, scope_id, status, n)
  SELECT s.scope, s.scope_id, r.status, count(*)
  FROM new_rows r
  CROSS JOIN LATERAL (VALUES ('all', 0::bigint), ('workflow', r.workflow_id), ('step', r.step_id)) AS s(scope, scope_id)
  WHERE s.scope_id IS NOT NULL
  GROUP BY s.scope, s.scope_id, r.status;
  PERFORM work_notify((SELECT string_agg('tag:' || tag || ':' || n, ',')
                       FROM (SELECT tag, count(*) AS n FROM new_rows WHERE status = 'pending' AND NOT paused GROUP BY tag) AS claimable));
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tasks_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH moved AS (
    SELECT o.status AS old_status, o.workflow_id AS old_workflow_id, o.step_id AS old_step_id,
           n.status, n.workflow_id, n.step_id
    FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.status, o.workflow_id, o.step_id) IS DISTINCT FROM (n.status, n.workflow_id, n.step_id)
  ), deltas AS (
    SELECT old_status AS status, old_workflow_id AS workflow_id, old_step_id AS step_id, -1 AS delta FROM moved
    UNION ALL
    SELECT status, workflow_id, step_id, 1 FROM moved
  )
  INSERT INTO task_counts (scope, scope_id, status, n)
  SELECT s.scope, s.scope_id, d.status, sum(d.delta)
  FROM deltas d
  CROSS JOIN LATERAL (VALUES ('all', 0::bigint), ('workflow', d.workflow_id), ('step', d.step_id)) AS s(scope, scope_id)
  WHERE s.scope_id IS NOT NULL
  GROUP BY s.scope, s.scope_id, d.status
  HAVING sum(d.delta) <> 0;
  PERFORM work_notify((SELECT string_agg('tag:' || tag || ':' || n, ',')
                       FROM (SELECT n.tag, count(*) AS n
                             FROM new_rows n JOIN old_rows o USING (id)
                             WHERE n.status = 'pending' AND NOT n.paused
                               AND (o.status <> 'pending' OR o.paused OR o.tag <> n.tag)
                             GROUP BY n.tag) AS claimable));
  RETURN NULL;
END
$$;
