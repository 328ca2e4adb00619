// Task counts by status for workflows and steps, read from the task_counts projection.
import { sql } from 'slonik';
import { TASK_STATUSES } from '../../shared/schemas/task.js';
import type { TaskCounts } from '../../shared/schemas/workflow.js';
import type { Db } from '../db/pool.js';

export async function taskCounts(db: Db, scope: 'all' | 'workflow' | 'step', ids: number[]): Promise<Map<number, TaskCounts>> {
  const rows = await db.any(sql.unsafe`
    SELECT scope_id, status, sum(n)::bigint AS n FROM task_counts
    WHERE scope = ${scope} AND scope_id = ANY(${sql.array(ids, 'int8')})
    GROUP BY scope_id, status HAVING sum(n) <> 0
    ORDER BY array_position(${sql.array([...TASK_STATUSES], 'text')}, status)`);
  const counts = new Map<number, TaskCounts>(ids.map((id) => [id, {}]));
  // Keys in lifecycle order (the rows'), so that every reader lists the statuses alike.
  for (const row of rows) (counts.get(row.scope_id) as Record<string, number>)[row.status] = row.n;
  return counts;
}
