// Command: kill a task. A task with a live execution gets a kill order for it (its
// worker sends TERM, then KILL after the grace, and reports it killed), or a new one when
// its KILL would come sooner than the order it has (killIsNews); a task not yet started is
// cancelled at once; a task that already ended cannot be killed (409).
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Pool } from '../db/pool.js';
import { conflict, notFound } from '../errors.js';
import { isLive } from '../../shared/schemas/execution.js';
import { UNSTARTED_TASK_STATUSES } from '../../shared/schemas/task.js';
import { recordEvents } from '../events/recordEvents.js';
import { graceWithin, killIsNews, lockExecutions } from './lockExecutions.js';
import { releaseDependents } from './releaseDependents.js';

export async function killTask(pool: Pool, taskId: number, graceSeconds: number, meta: EventMeta): Promise<'kill_requested' | 'cancelled'> {
  return pool.transaction(async (tx) => {
    const task = await tx.maybeOne(sql.unsafe`SELECT id, status, version, execution_id FROM tasks WHERE id = ${taskId} FOR UPDATE`);
    if (!task) throw notFound(`task ${taskId}`);
    if (isLive(task.status)) {
      const x = (await lockExecutions(tx, [task.execution_id])).get(task.execution_id)!;
      if (killIsNews(x, graceSeconds)) {
        await recordEvents(tx, [{ type: 'execution.kill_requested', streamId: x.id, version: x.version + 1, data: { task_id: taskId, grace_seconds: graceWithin(x, graceSeconds) } }], meta);
      }
      return 'kill_requested';
    }
    if ((UNSTARTED_TASK_STATUSES as readonly string[]).includes(task.status)) {
      await recordEvents(tx, [{ type: 'task.cancelled', streamId: taskId, version: task.version + 1, data: { reason: 'killed before it started' } }], meta);
      await releaseDependents(tx, [taskId], meta);
      return 'cancelled';
    }
    throw conflict(`task ${taskId} is ${task.status}: there is nothing to kill`);
  });
}
