-- Steering while it runs: pauses by scope, held and paused tasks out of the claim's index,
-- requeue on a kill that a pause asked for, failure-tolerant dependencies.

-- What is paused: everything (scope 'all', key ''), a workflow or a step (key: its id), or
-- a routing tag (key: the tag). A projection of the *.paused / *.resumed events.
CREATE TABLE pauses (
  scope     text        NOT NULL CHECK (scope IN ('all', 'workflow', 'step', 'tag')),
  scope_key text        NOT NULL,
  paused_at timestamptz NOT NULL,
  paused_by text,
  PRIMARY KEY (scope, scope_key)
);

-- Whether a task of this workflow, step and tag is paused. The pauses table holds a handful
-- of rows, so four primary-key probes cost next to nothing.
CREATE FUNCTION task_paused(p_workflow_id bigint, p_step_id bigint, p_tag text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM pauses
    WHERE (scope = 'all' AND scope_key = '')
       OR (scope = 'workflow' AND scope_key = p_workflow_id::text)
       OR (scope = 'step' AND scope_key = p_step_id::text)
       OR (scope = 'tag' AND scope_key = p_tag))
$$;

-- Kept true for every unfinished task under a pause (set by the pause, cleared by the
-- resume, computed when a task is submitted, relaunched or edited), so that paused work
-- leaves the claim's index instead of being filtered out after it is read.
ALTER TABLE tasks ADD COLUMN paused boolean NOT NULL DEFAULT false;
-- A task that runs once its dependencies have ended, whether they succeeded or not.
ALTER TABLE tasks ADD COLUMN accept_failure boolean NOT NULL DEFAULT false;
-- Failures are counted for max_retries only among attempts after this one: a relaunch
-- sets it to the attempts made so far, so the retry count starts again.
ALTER TABLE tasks ADD COLUMN retry_base integer NOT NULL DEFAULT 0;

DROP INDEX tasks_claim;
CREATE INDEX tasks_claim ON tasks (tag, priority DESC, id) WHERE status = 'pending' AND NOT paused;
DROP INDEX tasks_claim_any;
CREATE INDEX tasks_claim_any ON tasks (priority DESC, id) WHERE status = 'pending' AND NOT paused;

-- A kill that a pause (or a hold) asked for puts the task back in the queue instead of
-- cancelling it.
ALTER TABLE executions ADD COLUMN kill_requeue boolean NOT NULL DEFAULT false;

-- Wake-ups: claimable means pending and not paused now. Same bodies as 0013 otherwise.
CREATE OR REPLACE FUNCTION tasks_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_counts (scope, scope_id, status, n)
  SELECT s.scope, s.scope_id, r.status, count(*)
  FROM new_rows r
  CROSS JOIN LATERAL (VALUES ('all', 0::bigint), ('workflow', r.workflow_id), ('step', r.step_id)) AS s(scope, scope_id)
  WHERE s.scope_id IS NOT NULL
  GROUP BY s.scope, s.scope_id, r.status;
  PERFORM work_notify((SELECT string_agg(DISTINCT 'tag:' || tag, ',') FROM new_rows WHERE status = 'pending' AND NOT paused));
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
  PERFORM work_notify((SELECT string_agg(DISTINCT 'tag:' || n.tag, ',')
                       FROM new_rows n JOIN old_rows o USING (id)
                       WHERE n.status = 'pending' AND NOT n.paused
                         AND (o.status <> 'pending' OR o.paused OR o.tag <> n.tag)));
  RETURN NULL;
END
$$;

-- An execution cancelled before its process started (its task was edited or held) must be
-- abandoned by its worker at once, as a lost one is.
CREATE OR REPLACE FUNCTION executions_work_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM work_notify((SELECT string_agg(DISTINCT 'worker:' || n.worker_id, ',')
                       FROM new_rows n JOIN old_rows o USING (id)
                       WHERE (o.kill_requested_at IS NULL AND n.kill_requested_at IS NOT NULL)
                          OR (o.status NOT IN ('lost', 'cancelled') AND n.status IN ('lost', 'cancelled'))));
  RETURN NULL;
END
$$;
