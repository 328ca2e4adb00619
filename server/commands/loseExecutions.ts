// Marks live executions lost (their lease expired, or their worker no longer holds them)
// and decides what becomes of their tasks by the retry policy (commands/taskOutcome.ts).
// Each execution is re-checked under a row lock, so an execution that finished meanwhile is
// left alone. The tasks that ended for good are returned, not released: their dependents
// are locked last in the caller's transaction (releaseDependents), after any lease.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { isLive } from '../../shared/schemas/execution.js';
import { recordEvents } from '../events/recordEvents.js';
import { lockExecutions } from './lockExecutions.js';
import { taskOutcome } from './taskOutcome.js';

export interface Lost {
  lost: number[];
  /** Tasks that ended for good (failed or cancelled): their dependents are the caller's to release. */
  ended: number[];
}

export async function loseExecutions(tx: Db, executionIds: number[], reason: string, maxLost: number, meta: EventMeta): Promise<Lost> {
  if (executionIds.length === 0) return { lost: [], ended: [] };
  const live = [...(await lockExecutions(tx, executionIds)).values()].filter((x) => isLive(x.status));
  const events = [];
  const ended: number[] = [];
  for (const x of live) {
    const { task_status, retry_at = null } = await taskOutcome(tx, x, 'lost', 'lost', maxLost);
    if (task_status !== 'pending') ended.push(x.task_id);
    events.push({
      type: 'execution.lost' as const, streamId: x.id, version: x.version + 1,
      data: { task_id: x.task_id, reason, task_status, failure_class: 'lost' as const, retry_at },
    });
  }
  await recordEvents(tx, events, meta);
  await tx.query(sql.unsafe`DELETE FROM execution_leases WHERE execution_id = ANY(${sql.array(live.map((x) => x.id), 'int8')})`);
  return { lost: live.map((x) => x.id), ended };
}
