// Locks executions and their tasks in the one order every command follows: tasks by id,
// then executions by id (then leases, then counters). A command that touches executions
// of several tasks locks them all here in one go, before any other lock: taking tasks in
// two waves would let a kill (task, then its execution) close a cycle with it.
import { sql } from 'slonik';
import { z } from 'zod';
import type { Db } from '../db/pool.js';

export const LockedExecution = z.object({
  id: z.number(),
  task_id: z.number(),
  worker_id: z.number(),
  status: z.string(),
  version: z.number(),
  kill_requested_at: z.string().nullable(),
  kill_requeue: z.boolean(),
  /** Seconds until the KILL of the kill asked for is due (negative once past), by the database's clock; null without one. */
  kill_left_seconds: z.number().nullable(),
});
export type LockedExecution = z.infer<typeof LockedExecution>;

export async function lockExecutions(tx: Db, executionIds: number[]): Promise<Map<number, LockedExecution>> {
  if (executionIds.length === 0) return new Map();
  const ids = sql.array(executionIds, 'int8');
  await tx.query(sql.unsafe`
    SELECT 1 FROM tasks WHERE id IN (SELECT task_id FROM executions WHERE id = ANY(${ids})) ORDER BY id FOR UPDATE`);
  const rows = await tx.any(sql.type(LockedExecution)`
    SELECT id, task_id, worker_id, status, version, kill_requested_at, kill_requeue,
           extract(epoch FROM kill_requested_at + make_interval(secs => kill_grace_seconds) - now())::float8 AS kill_left_seconds
    FROM executions
    WHERE id = ANY(${ids}) ORDER BY id FOR UPDATE`);
  return new Map(rows.map((x) => [x.id, x]));
}

/**
 * Whether a kill with this grace is news to the execution: none was asked for, the one asked
 * for sends its task back to the queue (a pause's), or its KILL is due later than this one's
 * would be. A kill asked for again with a shorter grace so comes sooner, as `scancel -s KILL`
 * after a first scancel does; the same order again changes nothing.
 */
export function killIsNews(x: LockedExecution, graceSeconds: number): boolean {
  return x.kill_requested_at === null || x.kill_requeue || graceSeconds < (x.kill_left_seconds ?? Infinity);
}

/**
 * The grace of a kill that is news (killIsNews): never longer than what is left of an order
 * under way. A user's kill replaces a pause's order whatever its grace, so that the task ends
 * rather than going back to the queue; its worker keeps the sooner of the two KILLs, and the
 * stored order then says when that KILL comes. Rounded down, so it hurries it by less than a
 * second rather than promise it later than it comes.
 */
export function graceWithin(x: LockedExecution, graceSeconds: number): number {
  return x.kill_left_seconds === null ? graceSeconds : Math.min(graceSeconds, Math.max(0, Math.floor(x.kill_left_seconds)));
}

/**
 * Whether a pause's kill order (one that puts the task back in the queue) is news: none was
 * asked for, or a pause's was and this one's KILL would come sooner, so that `--signal kill`
 * hurries a `--signal term` under way. A cancel's order is left as it is: its task ends
 * cancelled, not back in the queue.
 */
export function requeueIsNews(x: LockedExecution, graceSeconds: number): boolean {
  return x.kill_requested_at === null || (x.kill_requeue && graceSeconds < (x.kill_left_seconds ?? Infinity));
}
