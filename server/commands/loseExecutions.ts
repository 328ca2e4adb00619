// Marks live executions lost (their lease expired, or their worker no longer holds them)
// and decides what becomes of their tasks by the retry policy (commands/taskOutcome.ts).
// Each execution is re-checked under a row lock, so an execution that finished meanwhile is
// left alone.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { releaseDependents } from './releaseDependents.js';
import { taskOutcome } from './taskOutcome.js';

export const LIVE = ['assigned', 'downloading', 'running', 'uploading'];

export async function loseExecutions(tx: Db, executionIds: number[], reason: string, maxLost: number, meta: EventMeta): Promise<number[]> {
  if (executionIds.length === 0) return [];
  // Tasks first, in id order: the lock order of killTask and recordReports.
  await tx.query(sql.unsafe`
    SELECT 1 FROM tasks WHERE id IN (SELECT task_id FROM executions WHERE id = ANY(${sql.array(executionIds, 'int8')}))
    ORDER BY id FOR UPDATE`);
  const live = await tx.any(sql.unsafe`
    SELECT id, task_id, version, kill_requested_at FROM executions
    WHERE id = ANY(${sql.array(executionIds, 'int8')}) AND status = ANY(${sql.array(LIVE, 'text')})
    ORDER BY id FOR UPDATE`);
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
