-- Task counts become insert-only deltas. With one row per (scope, status, shard) updated
-- in place, every status change locked counter rows that every other claim, report and
-- loss of the same scope also locked, each transaction in its own order: the deadlocks
-- measured under many worker slots. Now a change only inserts its deltas, which never
-- wait on anything; readers sum them (the index keeps a scope's sum cheap), and the reaper
-- leader folds them back into one row per (scope, scope_id, status) every second
-- (task_counts_compact), so the table stays small.
ALTER TABLE task_counts DROP CONSTRAINT task_counts_pkey;
ALTER TABLE task_counts DROP COLUMN shard;
CREATE INDEX task_counts_scope ON task_counts (scope, scope_id, status);

CREATE OR REPLACE FUNCTION task_counts_rows(rows_json jsonb, sign integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_agg(x), '[]'::jsonb) FROM (
    SELECT 'all' AS scope, 0::bigint AS scope_id, r.status, sign AS delta
      FROM jsonb_to_recordset(rows_json) AS r(id bigint, status text, workflow_id bigint, step_id bigint)
    UNION ALL
    SELECT 'workflow', r.workflow_id, r.status, sign
      FROM jsonb_to_recordset(rows_json) AS r(id bigint, status text, workflow_id bigint, step_id bigint)
      WHERE r.workflow_id IS NOT NULL
    UNION ALL
    SELECT 'step', r.step_id, r.status, sign
      FROM jsonb_to_recordset(rows_json) AS r(id bigint, status text, workflow_id bigint, step_id bigint)
      WHERE r.step_id IS NOT NULL
  ) x
$$;

CREATE OR REPLACE FUNCTION task_counts_add(deltas jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO task_counts (scope, scope_id, status, n)
  SELECT d.scope, d.scope_id, d.status, sum(d.delta)
  FROM jsonb_to_recordset(deltas) AS d(scope text, scope_id bigint, status text, delta bigint)
  GROUP BY d.scope, d.scope_id, d.status
  HAVING sum(d.delta) <> 0
$$;

-- Folds the deltas into one row per (scope, scope_id, status). It deletes only rows it
-- sees, which writers never lock (they only insert), and deltas inserted meanwhile stay.
CREATE FUNCTION task_counts_compact() RETURNS bigint LANGUAGE sql AS $$
  WITH gone AS (DELETE FROM task_counts RETURNING scope, scope_id, status, n),
       kept AS (INSERT INTO task_counts (scope, scope_id, status, n)
                SELECT scope, scope_id, status, sum(n) FROM gone GROUP BY scope, scope_id, status HAVING sum(n) <> 0
                RETURNING 1)
  SELECT count(*) - (SELECT count(*) FROM kept) FROM gone
$$;
