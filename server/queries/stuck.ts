// Stuck steps and workflows: pending work that no worker online could take. A pending task
// that is not paused is stuck when no online worker that is not paused (nor at concurrency
// 0) takes its tag and satisfies its requirements: the claim's own rule (takesSql in
// server/requirements.ts). Busy workers do not make work stuck (it waits its turn), nor do
// pauses (the work is held on purpose, and shows as paused), nor a backoff (it ends).
import { sql } from 'slonik';
import type { Db } from '../db/pool.js';
import { takesSql } from '../requirements.js';

/**
 * The workflows or steps among `ids` that have stuck work, in one statement: the distinct
 * shapes (tag, requirements, container) of their pending tasks, through the partial indexes
 * over pending tasks (sql/0026_stats.sql), each checked against the workers that could take
 * work. Pass only the ids that have pending tasks: the others cannot be stuck.
 */
export async function stuckScopes(db: Db, scope: 'workflow' | 'step', ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const column = sql.identifier([`${scope}_id`]);
  const rows = await db.anyFirst(sql.unsafe`
    SELECT DISTINCT t.scope_id FROM (
      SELECT DISTINCT ${column} AS scope_id, tag, requirements, container FROM tasks
      WHERE ${column} = ANY(${sql.array([...ids], 'int8')}) AND status = 'pending' AND NOT paused) t
    WHERE NOT EXISTS (
      SELECT 1 FROM workers w WHERE w.status = 'online' AND NOT w.paused AND w.concurrency > 0 AND ${takesSql('w', 't')})`);
  return new Set(rows.map(Number));
}
