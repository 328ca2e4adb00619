// Command: pause a workflow, a step, a tag or everything. Its unfinished tasks leave the
// claim (the pauses projection sets their `paused` flag in the same transaction); tasks
// submitted into it later arrive paused. Running executions go on unless a signal is
// asked for: `term` or `kill` sends a kill order that puts the task back in the queue when
// the execution ends (kill_requeue), `suspend` stops the process until the resume.
import type { EventMeta } from '../../shared/events.js';
import type { PauseResult } from '../../shared/schemas/steering.js';
import type { Db, Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { lockExecutions, requeueIsNews } from './lockExecutions.js';
import { liveTasksOf, lockCovered, lockScope, type Scope } from './lockScope.js';
import { suspendTasks } from './signalExecutions.js';

export interface PauseRequest {
  signal: 'none' | 'suspend' | 'term' | 'kill';
  grace_seconds: number;
}

async function requeueKills(tx: Db, tasks: Array<{ id: number; execution_id: number }>, graceSeconds: number, meta: EventMeta): Promise<number> {
  const executions = await lockExecutions(tx, tasks.map((t) => t.execution_id));
  const orders = [...executions.values()].filter((x) => requeueIsNews(x, graceSeconds)).map((x) => ({
    type: 'execution.kill_requested' as const, streamId: x.id, version: x.version + 1,
    data: { task_id: x.task_id, grace_seconds: graceSeconds, requeue: true },
  }));
  await recordEvents(tx, orders, meta);
  return orders.length;
}

export async function pauseScope(pool: Pool, scope: Scope, request: PauseRequest, meta: EventMeta): Promise<PauseResult> {
  return pool.transaction(async (tx) => {
    const locked = await lockScope(tx, scope);
    let tasks = 0;
    if (!locked.paused) {
      tasks = await lockCovered(tx, locked, false);
      const data = { signal: request.signal, grace_seconds: request.grace_seconds };
      await recordEvents(tx, [scope.kind === 'queue'
        ? { type: 'queue.paused' as const, streamId: 0, version: locked.version + 1, data: { ...data, tag: scope.tag } }
        : { type: `${scope.kind}.paused` as const, streamId: scope.id, version: locked.version + 1, data }], meta);
    }
    let signalled = 0;
    if (request.signal === 'term' || request.signal === 'kill') {
      signalled = await requeueKills(tx, await liveTasksOf(tx, locked), request.signal === 'kill' ? 0 : request.grace_seconds, meta);
    } else if (request.signal === 'suspend') {
      signalled = (await suspendTasks(tx, (await liveTasksOf(tx, locked)).map((t) => t.id), meta)).affected.length;
    }
    return { paused: true, changed: !locked.paused, tasks, signalled };
  });
}
