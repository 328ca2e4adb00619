// Command: cancel tasks (one, all a filter matches, a step's, a workflow's). A task not yet
// started is cancelled at once (task.cancelled); a live one gets a kill order for its
// execution (its worker sends TERM, then KILL after the grace, and the task ends
// cancelled); a task that ended is left as it is. The dependents of the tasks cancelled
// here are blocked in the same transaction (releaseDependents). Those waiting behind the
// tasks matched are locked with them first, in one wave (lockInOrder): locked after them, a
// waiting dependent with a smaller id than a waiting task matched met a command over both
// the other way.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import { isLive } from '../../shared/schemas/execution.js';
import type { BulkResult } from '../../shared/schemas/steering.js';
import { isFinalTask, type TaskFilter } from '../../shared/schemas/task.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { graceWithin, killIsNews, lockExecutions } from './lockExecutions.js';
import { lockInOrder, matchedCte, openBulk, TaskId } from './matchTasks.js';
import { releaseDependents } from './releaseDependents.js';

export interface CancelRequest {
  reason?: string;
  grace_seconds: number;
}

export async function cancelTasks(pool: Pool, filter: TaskFilter, request: CancelRequest, meta: EventMeta): Promise<BulkResult> {
  return pool.transaction(async (tx) => {
    await lockInOrder(tx, await tx.anyFirst(sql.type(TaskId)`
      WITH RECURSIVE ${matchedCte(filter)}, chain(id) AS (
        SELECT t.id FROM tasks t WHERE t.status = 'waiting' AND t.depends_on && (SELECT array_agg(id) FROM matched)
        UNION
        SELECT t.id FROM tasks t JOIN chain c ON t.depends_on @> ARRAY[c.id] WHERE t.status = 'waiting'
      )
      SELECT id FROM matched UNION SELECT id FROM chain`));
    const { tasks, outcome } = await openBulk(tx, filter);
    const unstarted = [];
    const live = [];
    for (const t of tasks) {
      if (isFinalTask(t.status)) outcome.skip(t.id, `${t.status}: it has ended`);
      else if (isLive(t.status)) live.push(t);
      else unstarted.push(t);
    }
    const executions = await lockExecutions(tx, live.map((t) => t.execution_id!));
    const kills = [];
    for (const t of live) {
      const x = executions.get(t.execution_id!)!;
      if (!killIsNews(x, request.grace_seconds)) {
        outcome.skip(t.id, 'already being killed');
        continue;
      }
      outcome.changed(t.id);
      kills.push({
        type: 'execution.kill_requested' as const, streamId: x.id, version: x.version + 1,
        data: { task_id: t.id, grace_seconds: graceWithin(x, request.grace_seconds), requeue: false, reason: request.reason ?? 'cancelled by a user' },
      });
    }
    const reason = request.reason ?? 'cancelled by a user';
    await recordEvents(tx, [
      ...unstarted.map((t) => {
        outcome.changed(t.id);
        return { type: 'task.cancelled' as const, streamId: t.id, version: t.version + 1, data: { reason } };
      }),
      ...kills,
    ], meta);
    await releaseDependents(tx, unstarted.map((t) => t.id), meta);
    return outcome.result();
  });
}
