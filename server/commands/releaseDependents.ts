// Moves the dependents of tasks that just ended: a waiting task whose dependencies have
// all succeeded becomes pending (task.released); a waiting task that depends, directly or
// through other waiting tasks, on one that failed or was cancelled becomes blocked
// (task.blocked), unless it accepts failures: it is released once all its dependencies
// have ended or are blocked. Runs inside the command that ended the tasks.
//
// Two dependencies of one task may end at the same moment in two transactions, each not
// yet seeing the other. So the waiting tasks concerned are locked first, in id order; a
// transaction that waited for such a lock then reads their dependencies again with a fresh
// snapshot (READ COMMITTED: every statement gets one) and sees the other's commit, so the
// last of the two releases the task. Versions are read under the lock too, so a kill racing
// this command cannot write the same event version. A task submitted behind the chain while
// this command waited for a lock joins it: the chain is read again until nothing new comes.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';

/** Of these tasks, those some waiting task depends on directly: the others have no dependents to move. */
export async function dependedOn(tx: Db, taskIds: number[]): Promise<Set<number>> {
  if (taskIds.length === 0) return new Set();
  const ids = sql.array(taskIds, 'int8');
  return new Set((await tx.anyFirst(sql.unsafe`
    SELECT DISTINCT d FROM tasks t, unnest(t.depends_on) AS d WHERE t.status = 'waiting' AND t.depends_on && ${ids} AND d = ANY(${ids})`)).map(Number));
}

/**
 * Locks the waiting tasks that depend, directly or through other waiting tasks, on these
 * tasks, in id order; returns their ids. A transaction that serves the exchanges of several
 * workers locks the chains of all of them here first, so that each one's release (with its
 * own request's meta) finds its waiting tasks locked already: one wave of locks in id order.
 */
export async function lockDependents(tx: Db, endedTaskIds: number[]): Promise<number[]> {
  if (endedTaskIds.length === 0) return [];
  const ended = sql.array(endedTaskIds, 'int8');
  const chain = async () => (await tx.anyFirst(sql.unsafe`
    WITH RECURSIVE chain(id) AS (
      SELECT t.id FROM tasks t WHERE t.status = 'waiting' AND t.depends_on && ${ended}
      UNION
      SELECT t.id FROM tasks t JOIN chain c ON t.depends_on @> ARRAY[c.id] WHERE t.status = 'waiting'
    )
    SELECT id FROM chain`)).map(Number);
  // A task submitted meanwhile behind one of the chain (its submit held that task shared,
  // so the lock below waited for it) joins the chain only once the lock is granted: read
  // the chain again until it holds nothing new.
  const concerned: number[] = [];
  for (let fresh = await chain(); fresh.length > 0; fresh = (await chain()).filter((id) => !concerned.includes(id))) {
    await tx.query(sql.unsafe`SELECT 1 FROM tasks WHERE id = ANY(${sql.array(fresh, 'int8')}) ORDER BY id FOR UPDATE`);
    concerned.push(...fresh);
  }
  return concerned;
}

export async function releaseDependents(tx: Db, endedTaskIds: number[], meta: EventMeta): Promise<void> {
  const concerned = await lockDependents(tx, endedTaskIds);
  if (concerned.length === 0) return;
  const ended = sql.array(endedTaskIds, 'int8');
  const blocked = await tx.any(sql.unsafe`
    WITH RECURSIVE failed AS (
      SELECT id FROM tasks WHERE id = ANY(${ended}) AND status IN ('failed', 'cancelled')
    ), chain(id, dependency) AS (
      SELECT t.id, f.id FROM tasks t JOIN failed f ON t.depends_on @> ARRAY[f.id] WHERE t.status = 'waiting' AND NOT t.accept_failure
      UNION
      SELECT t.id, c.id FROM tasks t JOIN chain c ON t.depends_on @> ARRAY[c.id] WHERE t.status = 'waiting' AND NOT t.accept_failure
    )
    SELECT DISTINCT ON (t.id) t.id, t.version, c.dependency FROM chain c JOIN tasks t ON t.id = c.id
    WHERE t.id = ANY(${sql.array(concerned, 'int8')})
    ORDER BY t.id, c.dependency`);
  await recordEvents(tx, blocked.map((t) => ({ type: 'task.blocked' as const, streamId: t.id, version: t.version + 1, data: { dependency: t.dependency } })), meta);
  // After the blocks: a task that accepts failures may be waiting only for tasks just blocked.
  const ready = await tx.any(sql.unsafe`
    SELECT t.id, t.version, t.accept_failure FROM tasks t
    WHERE t.id = ANY(${sql.array(concerned, 'int8')}) AND t.status = 'waiting'
      AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.id = ANY(t.depends_on) AND d.status <> 'succeeded'
                      AND NOT (t.accept_failure AND d.status IN ('failed', 'cancelled', 'blocked')))
    ORDER BY t.id`);
  await recordEvents(tx, ready.map((t) => ({
    type: 'task.released' as const, streamId: t.id, version: t.version + 1,
    data: { reason: t.accept_failure ? 'dependencies ended' : 'dependencies succeeded' },
  })), meta);
}
