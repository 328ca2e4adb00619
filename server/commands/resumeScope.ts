// Command: resume a paused workflow, step, tag or everything. Its tasks return to the claim
// unless another pause still covers them (the pauses projection clears only the flags that
// no pause keeps); parked polls of the workers that take them wake, as many as the tasks
// need (the tasks trigger, server/workers/wakeups.ts).
// Executions a pause suspended continue, unless another pause still covers their task.
import type { EventMeta } from '../../shared/events.js';
import type { PauseResult } from '../../shared/schemas/steering.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { liveTasksOf, lockCovered, lockScope, type Scope } from './lockScope.js';
import { continueTasks } from './signalExecutions.js';

export async function resumeScope(pool: Pool, scope: Scope, meta: EventMeta): Promise<PauseResult> {
  return pool.transaction(async (tx) => {
    const locked = await lockScope(tx, scope);
    if (!locked.paused) return { paused: false, changed: false, tasks: 0, signalled: 0 };
    const before = await lockCovered(tx, locked, true);
    await recordEvents(tx, [scope.kind === 'queue'
      ? { type: 'queue.resumed' as const, streamId: 0, version: locked.version + 1, data: { tag: scope.tag } }
      : { type: `${scope.kind}.resumed` as const, streamId: scope.id, version: locked.version + 1, data: {} }], meta);
    // Those another pause still covers stay paused (and already locked).
    const tasks = before - (await lockCovered(tx, locked, true));
    const free = (await liveTasksOf(tx, locked)).filter((t) => !t.paused).map((t) => t.id);
    return { paused: false, changed: true, tasks, signalled: (await continueTasks(tx, free, meta)).affected.length };
  });
}
