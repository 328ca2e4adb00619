// What becomes of a task when one of its executions ends: the retry policy in one place.
// - A task someone asked to kill is cancelled, never retried, unless the kill came from a
//   pause or a hold (`kill_requeue`): then it goes back to the queue at once, and the
//   attempt does not count as a failure.
// - A failure is retried when its class is among the task's retry_on and the task has
//   failed at most max_retries times, after a backoff of min(cap, base × 2^(n−1)) before
//   retry n; after an `oom` failure the next attempt needs the next value of the task's
//   memory curve. Failures count from the attempt after retry_base (a relaunch moves it, so
//   the retry count starts again).
// - A lost execution does not count against max_retries, since the task did nothing wrong,
//   and is retried at once (no backoff: the worker failed, another can take the task now);
//   but a task whose executions keep being lost (it may be what kills its workers) fails
//   after maxLostExecutions losses, and one whose retry_on leaves `lost` out (a task that
//   must not run twice) fails at its first loss.
import { sql } from 'slonik';
import { z } from 'zod';
import type { FailureClass } from '../../shared/schemas/execution.js';
import type { TaskStatus } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';

export type ExecutionEnd = 'succeeded' | 'failed' | 'killed' | 'refused' | 'lost';

export interface TaskOutcome {
  task_status: TaskStatus;
  /** Only when the task goes back to pending: not before this time (null: at once). */
  retry_at?: string | null;
  /** Only when the task goes back to pending: its next memory requirement, null when unchanged. */
  memory_mb?: number | null;
}

const Policy = z.object({
  max_retries: z.number(),
  retry_on: z.array(z.string()),
  backoff: z.object({ base_seconds: z.number(), cap_seconds: z.number() }),
  memory_curve: z.array(z.number()).nullable(),
  memory_mb: z.number().nullable(),
  now: z.string(),
  failures: z.number(),
  losses: z.number(),
});

/** The wait before retry n (n ≥ 1), in seconds. */
export function backoffSeconds(backoff: { base_seconds: number; cap_seconds: number }, n: number): number {
  return Math.min(backoff.cap_seconds, backoff.base_seconds * 2 ** Math.min(n - 1, 40));
}

/** The curve's first value above the current requirement; null at its top or without a curve. */
export function nextMemory(curve: number[] | null, current: number | null): number | null {
  return curve?.find((mb) => mb > (current ?? 0)) ?? null;
}

export async function taskOutcome(
  tx: Db, execution: { task_id: number; kill_requested_at: string | null; kill_requeue: boolean }, end: ExecutionEnd, failureClass: FailureClass | null,
  maxLost: number,
): Promise<TaskOutcome> {
  if (end === 'succeeded') return { task_status: 'succeeded' };
  // Someone asked to kill it: it is not run again, whether the kill landed or the execution
  // failed or was lost before the order reached it.
  if (execution.kill_requested_at !== null) {
    return execution.kill_requeue ? { task_status: 'pending', retry_at: null, memory_mb: null } : { task_status: 'cancelled' };
  }
  const p = await tx.one(sql.type(Policy)`
    SELECT t.max_retries, t.retry_on, t.backoff, t.memory_curve, (t.requirements->>'memory_mb')::int AS memory_mb,
           clock_timestamp() AS now,
           count(x.id) FILTER (WHERE x.status IN ('failed', 'refused', 'killed') AND NOT x.kill_requeue)::int AS failures,
           count(x.id) FILTER (WHERE x.status = 'lost')::int AS losses
    FROM tasks t LEFT JOIN executions x ON x.task_id = t.id AND x.attempt > t.retry_base
    WHERE t.id = ${execution.task_id} GROUP BY t.id`);
  const failureClassOrEnd = failureClass ?? (end === 'failed' ? 'exit' : end);
  if (!p.retry_on.includes(failureClassOrEnd)) return { task_status: 'failed' };
  if (end === 'lost') return p.losses + 1 >= maxLost ? { task_status: 'failed' } : { task_status: 'pending', retry_at: null, memory_mb: null };
  if (p.failures + 1 > p.max_retries) return { task_status: 'failed' };
  const wait = backoffSeconds(p.backoff, p.failures + 1);
  return {
    task_status: 'pending',
    retry_at: wait > 0 ? new Date(Date.parse(p.now) + wait * 1000).toISOString() : null,
    memory_mb: failureClassOrEnd === 'oom' ? nextMemory(p.memory_curve, p.memory_mb) : null,
  };
}
