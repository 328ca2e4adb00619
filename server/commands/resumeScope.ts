// Command: resume a paused workflow, step, tag or everything. Its tasks return to the claim
// unless another pause still covers them (the pauses projection clears only the flags that
// no pause keeps); parked polls of the workers that take them wake (the tasks trigger).
// Executions a pause suspended continue, unless another pause still covers their task.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { PauseResult } from '../../shared/schemas/steering.js';
import { UNFINISHED_TASK_STATUSES } from '../../shared/schemas/task.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { liveTasksOf, lockScope, type Scope } from './lockScope.js';
import { continueTasks } from './signalExecutions.js';

export async function resumeScope(pool: Pool, scope: Scope, meta: EventMeta): Promise<PauseResult> {
  return pool.transaction(async (tx) => {
    const locked = await lockScope(tx, scope);
    if (!locked.paused) return { paused: false, changed: false, tasks: 0, signalled: 0 };
    const pausedNow = () => tx.oneFirst(sql.unsafe`
      SELECT count(*) FROM tasks WHERE ${locked.covers} AND status = ANY(${sql.array(UNFINISHED_TASK_STATUSES, 'text')}) AND paused`);
    // Locked here in id order, as every command locks tasks: the projection's UPDATE would
    // take them in the order of the table.
    const before = Number(await tx.oneFirst(sql.unsafe`
      SELECT count(*) FROM (SELECT 1 FROM tasks WHERE ${locked.covers} AND status = ANY(${sql.array(UNFINISHED_TASK_STATUSES, 'text')})
                            AND paused ORDER BY id FOR UPDATE) covered`));
    await recordEvents(tx, [scope.kind === 'queue'
      ? { type: 'queue.resumed' as const, streamId: 0, version: locked.version + 1, data: { tag: scope.tag } }
      : { type: `${scope.kind}.resumed` as const, streamId: scope.id, version: locked.version + 1, data: {} }], meta);
    const tasks = before - Number(await pausedNow());
    const free = (await liveTasksOf(tx, locked)).filter((t) => !t.paused).map((t) => t.id);
    return { paused: false, changed: true, tasks, signalled: (await continueTasks(tx, free, meta)).affected.length };
  });
}
