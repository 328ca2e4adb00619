// Command: release held tasks. Each goes where its dependencies put it: pending when they
// all succeeded (or it accepts failures and they ended), blocked when one will not
// succeed, waiting otherwise (dependencyStatus.ts, the rule of a submission). The tasks
// it matched and their dependencies are locked together first (lockInOrder): a dependency,
// with a smaller id, locked after the task met a cancel of both the other way. Those of every
// task matched, held or not when read: one may be held by another command before the lock.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { BulkResult } from '../../shared/schemas/steering.js';
import type { TaskFilter, TaskStatus } from '../../shared/schemas/task.js';
import type { Db, Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { dependencyStatus } from './dependencyStatus.js';
import { lockInOrder, type MatchedTask, matchedCte, openBulk, TaskId } from './matchTasks.js';

/**
 * The statuses of the dependencies of these tasks, read once and locked, as a submission
 * does: a dependency that ends meanwhile either waits for this command, then finds the task
 * waiting and releases it, or has ended before these statuses are read. The commands lock
 * them beforehand with their tasks (lockInOrder); the share lock here still holds one that
 * became a dependency of theirs between that lock and this read.
 */
export async function dependencyStatuses(tx: Db, tasks: MatchedTask[]): Promise<Map<number, TaskStatus>> {
  const ids = [...new Set(tasks.flatMap((t) => t.depends_on))];
  if (ids.length === 0) return new Map();
  const rows = await tx.any(sql.unsafe`SELECT id, status FROM tasks WHERE id = ANY(${sql.array(ids, 'int8')}) ORDER BY id FOR SHARE`);
  return new Map(rows.map((r) => [Number(r.id), r.status as TaskStatus]));
}

export const statusAfterDependencies = (t: MatchedTask, deps: Map<number, TaskStatus>) =>
  dependencyStatus(t.depends_on.map((id) => deps.get(id)!), t.accept_failure);

export async function releaseTasks(pool: Pool, filter: TaskFilter, reason: string | undefined, meta: EventMeta): Promise<BulkResult> {
  return pool.transaction(async (tx) => {
    await lockInOrder(tx, await tx.anyFirst(sql.type(TaskId)`
      WITH ${matchedCte(filter)} SELECT id FROM matched UNION SELECT unnest(depends_on) FROM matched`));
    const { tasks, outcome } = await openBulk(tx, filter);
    const held = tasks.filter((t) => t.status === 'held' || (outcome.skip(t.id, `${t.status}: not held`), false));
    const deps = await dependencyStatuses(tx, held);
    await recordEvents(tx, held.map((t) => {
      outcome.changed(t.id);
      return { type: 'task.released' as const, streamId: t.id, version: t.version + 1, data: { reason: reason ?? 'released by a user', status: statusAfterDependencies(t, deps) } };
    }), meta);
    return outcome.result();
  });
}
