-- task_counts_compact folded every row every second, rewriting one row per scope and
-- status even where nothing had changed (and leaving as many dead rows to vacuum). It now
-- folds only the (scope, scope_id, status) that have more than one row: the ones that
-- changed since the last fold.
CREATE OR REPLACE FUNCTION task_counts_compact() RETURNS bigint LANGUAGE sql AS $$
  WITH changed AS (SELECT scope, scope_id, status FROM task_counts GROUP BY scope, scope_id, status HAVING count(*) > 1),
       gone AS (DELETE FROM task_counts c USING changed d
                WHERE c.scope = d.scope AND c.scope_id = d.scope_id AND c.status = d.status
                RETURNING c.scope, c.scope_id, c.status, c.n),
       kept AS (INSERT INTO task_counts (scope, scope_id, status, n)
                SELECT scope, scope_id, status, sum(n) FROM gone GROUP BY scope, scope_id, status HAVING sum(n) <> 0
                RETURNING 1)
  SELECT count(*) - (SELECT count(*) FROM kept) FROM gone
$$;
