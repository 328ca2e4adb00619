// What an exchange round reads about executions its worker named, beyond its own live ones:
// which of those it holds that are no longer live it must abandon, and the assignments it
// is offered again. Both run in the round's transaction, for every round of a batch at once.
import { sql } from 'slonik';
import { z } from 'zod';
import type { Task } from '../../shared/schemas/task.js';
import type { Claimed } from '../commands/claimTasks.js';
import type { Db } from '../db/pool.js';
import { TASK_COLUMNS } from '../queries/tasks.js';

/**
 * Of the executions each worker holds that are no longer live (`gone`, by worker id), those it
 * must abandon: lost, cancelled before they started, another worker's, or unknown.
 * One it ended itself has had its result recorded (in this exchange or an earlier one whose
 * receipt it has not processed yet): nothing to stop.
 */
export async function notTheirOwn(tx: Db, gone: Map<number, number[]>): Promise<Map<number, number[]>> {
  const asked = [...gone].filter(([, ids]) => ids.length > 0);
  if (asked.length === 0) return new Map();
  const own = new Set((await tx.any(sql.type(z.object({ id: z.number(), worker_id: z.number() }))`
    SELECT id, worker_id FROM executions
    WHERE id = ANY(${sql.array(asked.flatMap(([, ids]) => ids), 'int8')}) AND status NOT IN ('lost', 'cancelled')`)).map((x) => `${x.worker_id}:${x.id}`));
  return new Map(asked.map(([workerId, ids]) => [workerId, ids.filter((id) => !own.has(`${workerId}:${id}`))]));
}

/**
 * The assignments of these executions, as the claim that made them answered. Their tasks are
 * found through the executions (by primary keys): `tasks.execution_id` has no index.
 */
export async function assignedAgain(tx: Db, executionIds: number[]): Promise<Map<number, Claimed>> {
  if (executionIds.length === 0) return new Map();
  const ids = sql.array(executionIds, 'int8');
  const tasks = (await tx.any(sql.unsafe`
    SELECT ${TASK_COLUMNS} FROM tasks
    WHERE id IN (SELECT task_id FROM executions WHERE id = ANY(${ids})) AND execution_id = ANY(${ids}) ORDER BY id`)) as unknown as Task[];
  return new Map(tasks.map((task) => [task.execution_id!, { execution_id: task.execution_id!, attempt: task.attempts, task }]));
}
