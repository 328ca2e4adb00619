// What becomes of a task when one of its executions ends: the retry policy in one place.
// A failed (or refused) execution counts against max_retries; a lost one does not, since
// the task did nothing wrong, but a task whose executions keep being lost (it may be what
// kills its workers) fails after maxLostExecutions losses. A task someone asked to kill is
// cancelled, never retried, unless the kill came from a pause or a hold (`kill_requeue`):
// then it goes back to the queue, and the attempt does not count as a failure. Failures
// count only after the task's retry_base (its attempts when it was last relaunched).
import { sql } from 'slonik';
import type { TaskStatus } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';

export type ExecutionEnd = 'succeeded' | 'failed' | 'killed' | 'refused' | 'lost';

export async function taskOutcome(
  tx: Db, execution: { task_id: number; kill_requested_at: string | null; kill_requeue: boolean }, end: ExecutionEnd, maxLost: number,
): Promise<TaskStatus> {
  if (end === 'succeeded') return 'succeeded';
  // Someone asked to kill it: it is not run again, whether the kill landed or the execution
  // failed or was lost before the order reached it.
  if (end === 'killed' || execution.kill_requested_at !== null) return execution.kill_requeue ? 'pending' : 'cancelled';
  const taskId = execution.task_id;
  const row = await tx.one(sql.unsafe`
    SELECT t.max_retries,
           count(*) FILTER (WHERE x.status IN ('failed', 'refused')) AS failures,
           count(*) FILTER (WHERE x.status = 'lost') AS losses
    FROM tasks t LEFT JOIN executions x ON x.task_id = t.id AND x.attempt > t.retry_base
    WHERE t.id = ${taskId} GROUP BY t.id`);
  if (end === 'lost') return row.losses + 1 >= maxLost ? 'failed' : 'pending';
  return row.failures + 1 > row.max_retries ? 'failed' : 'pending';
}
