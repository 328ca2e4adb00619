// Cancels executions whose process has not started (assigned, downloading or ready) because their
// task was edited or held: the attempt ends as `cancelled`, which never counts as a failure,
// its lease goes, and its worker is told to abandon it at its next exchange (the trigger
// on executions wakes it). If the process did start meanwhile, the worker's `running`
// report is refused and the worker stops it: fencing, as for a lost execution. Runs after
// the caller locked the tasks (lock order: tasks, executions, leases).
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import { NOT_STARTED } from '../../shared/schemas/execution.js';
import type { TaskStatus } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { lockExecutions } from './lockExecutions.js';


export async function cancelExecutions(tx: Db, executionIds: number[], reason: string, taskStatus: TaskStatus, meta: EventMeta): Promise<void> {
  if (executionIds.length === 0) return;
  const live = [...(await lockExecutions(tx, executionIds)).values()].filter((x) => (NOT_STARTED as readonly string[]).includes(x.status));
  await recordEvents(tx, live.map((x) => ({
    type: 'execution.cancelled' as const, streamId: x.id, version: x.version + 1, data: { task_id: x.task_id, reason, task_status: taskStatus },
  })), meta);
  await tx.query(sql.unsafe`DELETE FROM execution_leases WHERE execution_id = ANY(${sql.array(live.map((x) => x.id), 'int8')})`);
}
