// Marks live executions lost (their lease expired, or their worker no longer holds them)
// and decides what becomes of their tasks by the retry policy (commands/taskOutcome.ts).
// Each execution is re-checked under a row lock, so an execution that finished meanwhile is
// left alone.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { isLive } from '../../shared/schemas/execution.js';
import { recordEvents } from '../events/recordEvents.js';
import { lockExecutions } from './lockExecutions.js';
import { releaseDependents } from './releaseDependents.js';
import { taskOutcome } from './taskOutcome.js';

export async function loseExecutions(tx: Db, executionIds: number[], reason: string, maxLost: number, meta: EventMeta): Promise<number[]> {
  if (executionIds.length === 0) return [];
  const live = [...(await lockExecutions(tx, executionIds)).values()].filter((x) => isLive(x.status));
  const events = [];
  const ended: number[] = [];
  for (const x of live) {
    const taskStatus = await taskOutcome(tx, x, 'lost', maxLost);
    if (taskStatus !== 'pending') ended.push(x.task_id);
    events.push({ type: 'execution.lost' as const, streamId: x.id, version: x.version + 1, data: { task_id: x.task_id, reason, task_status: taskStatus } });
  }
  await recordEvents(tx, events, meta);
  await tx.query(sql.unsafe`DELETE FROM execution_leases WHERE execution_id = ANY(${sql.array(live.map((x) => x.id), 'int8')})`);
  await releaseDependents(tx, ended, meta);
  return live.map((x) => x.id);
}
