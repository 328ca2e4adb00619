-- Projections: read models derived from the event log, updated in the same transaction
-- as the events they come from (server/projections/). `labq admin rebuild` truncates
-- them and replays the log through the same apply functions, so nothing here is ever
-- the only copy of anything. Times are copied from the events, never from now(), so a
-- rebuild yields identical rows.

CREATE TABLE workflows (
  id          bigint      PRIMARY KEY,
  name        text        NOT NULL,
  description text,
  created_at  timestamptz NOT NULL,
  created_by  text,
  updated_at  timestamptz NOT NULL,
  version     integer     NOT NULL
);
CREATE INDEX workflows_name ON workflows (name);

CREATE TABLE steps (
  id          bigint      PRIMARY KEY,
  workflow_id bigint      NOT NULL,
  name        text        NOT NULL,
  description text,
  created_at  timestamptz NOT NULL,
  created_by  text,
  updated_at  timestamptz NOT NULL,
  version     integer     NOT NULL,
  CONSTRAINT steps_workflow_name UNIQUE (workflow_id, name)
);

CREATE TABLE tasks (
  id                bigint      PRIMARY KEY,
  workflow_id       bigint,
  step_id           bigint,
  name              text,
  command           text        NOT NULL,
  shell             text        NOT NULL,
  container         text,
  container_options jsonb       NOT NULL,
  inputs            jsonb       NOT NULL,
  resources         jsonb       NOT NULL,
  output            text,
  tag               text        NOT NULL,
  priority          integer     NOT NULL,
  depends_on        bigint[]    NOT NULL,
  max_retries       integer     NOT NULL,
  timeouts          jsonb       NOT NULL,
  env               jsonb       NOT NULL,
  requirements      jsonb       NOT NULL,
  key               text,
  status            text        NOT NULL,
  attempts          integer     NOT NULL DEFAULT 0,
  execution_id      bigint,
  submitted_at      timestamptz NOT NULL,
  submitted_by      text,
  updated_at        timestamptz NOT NULL,
  version           integer     NOT NULL
);

-- Idempotency: one key per workflow (tasks outside any workflow share scope 0).
CREATE UNIQUE INDEX tasks_workflow_key ON tasks ((coalesce(workflow_id, 0)), key) WHERE key IS NOT NULL;
-- The claim reads only pending tasks, in the order it hands them out; the partial index
-- keeps it independent of how many finished tasks the table holds.
CREATE INDEX tasks_claim ON tasks (tag, priority DESC, id) WHERE status = 'pending';
CREATE INDEX tasks_status ON tasks (status, id);
CREATE INDEX tasks_step ON tasks (step_id, id) WHERE step_id IS NOT NULL;
CREATE INDEX tasks_workflow ON tasks (workflow_id, id) WHERE workflow_id IS NOT NULL;
CREATE INDEX tasks_depends_on ON tasks USING gin (depends_on);

-- One row per attempt at running a task. The partial unique index is the database's own
-- guarantee that a task never has two live executions, whatever a server gets wrong.
CREATE TABLE executions (
  id                bigint      PRIMARY KEY,
  task_id           bigint      NOT NULL,
  attempt           integer     NOT NULL,
  worker_id         bigint      NOT NULL,
  status            text        NOT NULL,
  assigned_at       timestamptz NOT NULL,
  downloading_at    timestamptz,
  running_at        timestamptz,
  uploading_at      timestamptz,
  finished_at       timestamptz,
  exit_code         integer,
  peak_memory_bytes bigint,
  error             text,
  version           integer     NOT NULL
);
CREATE INDEX executions_task ON executions (task_id, attempt);
CREATE UNIQUE INDEX executions_one_live ON executions (task_id)
  WHERE status IN ('assigned', 'downloading', 'running', 'uploading');

-- Task counts by status per workflow, per step and overall, maintained by statement
-- triggers on tasks so that any projection change keeps them right. The `shard`
-- (task id mod 8) spreads concurrent claims over several rows instead of one hot row;
-- readers sum the shards. Rows touched with a zero delta are still written, so the set
-- of rows depends only on the events, not on how they were batched.
CREATE TABLE task_counts (
  scope    text     NOT NULL CHECK (scope IN ('all', 'workflow', 'step')),
  scope_id bigint   NOT NULL,
  status   text     NOT NULL,
  shard    smallint NOT NULL,
  n        bigint   NOT NULL,
  PRIMARY KEY (scope, scope_id, status, shard)
);

CREATE FUNCTION task_counts_add(deltas jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO task_counts AS c (scope, scope_id, status, shard, n)
  SELECT d.scope, d.scope_id, d.status, d.shard, sum(d.delta)
  FROM jsonb_to_recordset(deltas) AS d(scope text, scope_id bigint, status text, shard smallint, delta bigint)
  GROUP BY d.scope, d.scope_id, d.status, d.shard
  ORDER BY d.scope, d.scope_id, d.status, d.shard
  ON CONFLICT (scope, scope_id, status, shard) DO UPDATE SET n = c.n + excluded.n
$$;

CREATE FUNCTION task_counts_rows(rows_json jsonb, sign integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_agg(x), '[]'::jsonb) FROM (
    SELECT 'all' AS scope, 0::bigint AS scope_id, r.status, (r.id % 8)::smallint AS shard, sign AS delta
      FROM jsonb_to_recordset(rows_json) AS r(id bigint, status text, workflow_id bigint, step_id bigint)
    UNION ALL
    SELECT 'workflow', r.workflow_id, r.status, (r.id % 8)::smallint, sign
      FROM jsonb_to_recordset(rows_json) AS r(id bigint, status text, workflow_id bigint, step_id bigint)
      WHERE r.workflow_id IS NOT NULL
    UNION ALL
    SELECT 'step', r.step_id, r.status, (r.id % 8)::smallint, sign
      FROM jsonb_to_recordset(rows_json) AS r(id bigint, status text, workflow_id bigint, step_id bigint)
      WHERE r.step_id IS NOT NULL
  ) x
$$;

CREATE FUNCTION task_counts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM task_counts_add(task_counts_rows(
    (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'status', status, 'workflow_id', workflow_id, 'step_id', step_id)), '[]') FROM new_rows), 1));
  RETURN NULL;
END
$$;

CREATE FUNCTION task_counts_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Only rows whose counted columns changed move a count.
  PERFORM task_counts_add(
    task_counts_rows((SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'status', o.status, 'workflow_id', o.workflow_id, 'step_id', o.step_id)), '[]')
                      FROM old_rows o JOIN new_rows n USING (id)
                      WHERE (o.status, o.workflow_id, o.step_id) IS DISTINCT FROM (n.status, n.workflow_id, n.step_id)), -1)
    || task_counts_rows((SELECT coalesce(jsonb_agg(jsonb_build_object('id', n.id, 'status', n.status, 'workflow_id', n.workflow_id, 'step_id', n.step_id)), '[]')
                      FROM old_rows o JOIN new_rows n USING (id)
                      WHERE (o.status, o.workflow_id, o.step_id) IS DISTINCT FROM (n.status, n.workflow_id, n.step_id)), 1));
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION task_counts_on_insert();
CREATE TRIGGER tasks_count_update AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION task_counts_on_update();

-- Per-scope totals, shards summed: what the API reads.
CREATE VIEW task_counts_by_scope AS
  SELECT scope, scope_id, status, sum(n)::bigint AS n FROM task_counts GROUP BY scope, scope_id, status;
