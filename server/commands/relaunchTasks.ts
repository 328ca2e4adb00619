// Command: relaunch tasks that ended (failed, cancelled or succeeded): each gets a new
// attempt, its history is kept, and only failures after this point count against
// max_retries (retry_base). It goes where its dependencies put it (pending, waiting or
// blocked), and the tasks its failure had blocked wait again (task.unblocked), transitively,
// unless something else they depend on still will not succeed. Its dependents that its end
// had released and that have not started (pending) wait again too (task.unreleased): they
// were ready only because it had ended, and must not run if this attempt fails.
//
// Every task it will lock (those it matched, their dependencies, the blocked chain and its
// dependencies, the dependents it makes wait again) is read first without a lock and locked
// in one wave, in the order of every bulk command (id order, waiting ones last). Locked in
// waves as the relaunch came to them, a dependent with a smaller id than a relaunched task
// was taken after it, and a cancel or hold over both met the relaunch the other way: a
// deadlock. Only a change between the read and the lock (a task blocked meanwhile) leaves
// one to take later, as before.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { BulkResult } from '../../shared/schemas/steering.js';
import { isFinalTask, type TaskFilter, type TaskStatus } from '../../shared/schemas/task.js';
import type { Db, Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { sharePausesLock } from './lockScope.js';
import { lockInOrder, MatchedTask, matchedCte, openBulk, TaskId } from './matchTasks.js';
import { dependencyStatuses, statusAfterDependencies } from './releaseTasks.js';

const WONT_SUCCEED = ['failed', 'cancelled', 'blocked'];

const Dependent = MatchedTask.pick({ id: true, status: true, version: true, depends_on: true });

export async function relaunchTasks(pool: Pool, filter: TaskFilter, reason: string | undefined, meta: EventMeta): Promise<BulkResult> {
  return pool.transaction(async (tx) => {
    await sharePausesLock(tx);
    await lockRelaunchSet(tx, filter);
    const { tasks, outcome } = await openBulk(tx, filter);
    const ended = tasks.filter((t) => isFinalTask(t.status) || (outcome.skip(t.id, `${t.status}: it has not ended (cancel it first)`), false));
    if (ended.length === 0) return outcome.result();
    const deps = await dependencyStatuses(tx, ended);
    const paused = new Map((await tx.any(sql.unsafe`
      SELECT id, task_paused(workflow_id, step_id, tag) AS paused FROM tasks WHERE id = ANY(${sql.array(ended.map((t) => t.id), 'int8')})`))
      .map((r) => [Number(r.id), r.paused as boolean]));
    const statuses = new Map<number, TaskStatus>();
    await recordEvents(tx, ended.map((t) => {
      outcome.changed(t.id);
      const status = statusAfterDependencies(t, deps);
      statuses.set(t.id, status);
      return {
        type: 'task.relaunched' as const, streamId: t.id, version: t.version + 1,
        data: { reason: reason ?? 'relaunched by a user', status, retry_base: t.attempts, paused: paused.get(t.id)! },
      };
    }), meta);
    await unblockDependents(tx, statuses, meta);
    await unreleaseDependents(tx, [...statuses.keys()], meta);
    return outcome.result();
  });
}

/**
 * Locks, in one wave, every task a relaunch of what the filter matches will lock (see the
 * header). Read before the lock, a task's status may change before it: the set is that of
 * every task matched, as if each had ended, so that one ended meanwhile (a cancel) is in it.
 */
async function lockRelaunchSet(tx: Db, filter: TaskFilter): Promise<void> {
  await lockInOrder(tx, await tx.anyFirst(sql.type(TaskId)`
    WITH RECURSIVE ${matchedCte(filter)}, matched_ids AS (
      SELECT coalesce(array_agg(id), '{}') AS ids FROM matched
    ), chain(id) AS (
      SELECT t.id FROM tasks t, matched_ids e WHERE t.status = 'blocked' AND t.depends_on && e.ids
      UNION
      SELECT t.id FROM tasks t JOIN chain c ON t.depends_on @> ARRAY[c.id] WHERE t.status = 'blocked'
    )
    SELECT id FROM matched
    UNION SELECT unnest(depends_on) FROM matched
    UNION SELECT id FROM chain
    UNION SELECT unnest(t.depends_on) FROM tasks t JOIN chain USING (id)
    UNION SELECT t.id FROM tasks t, matched_ids e WHERE t.status IN ('pending', 'waiting') AND t.depends_on && e.ids`));
}

/** The blocked tasks downstream of the relaunched ones that nothing else keeps blocked: they wait again. */
async function unblockDependents(tx: Db, relaunched: Map<number, TaskStatus>, meta: EventMeta): Promise<void> {
  const ids = sql.array([...relaunched.keys()], 'int8');
  const blocked = await tx.any(sql.type(MatchedTask)`
    WITH RECURSIVE chain(id) AS (
      SELECT t.id FROM tasks t WHERE t.status = 'blocked' AND t.depends_on && ${ids}
      UNION
      SELECT t.id FROM tasks t JOIN chain c ON t.depends_on @> ARRAY[c.id] WHERE t.status = 'blocked'
    )
    SELECT id, status, version, execution_id, workflow_id, step_id, tag, depends_on, accept_failure, attempts
    FROM tasks WHERE id IN (SELECT id FROM chain) ORDER BY id FOR UPDATE`);
  if (blocked.length === 0) return;
  const deps = await dependencyStatuses(tx, [...blocked]);
  const candidates = new Map(blocked.map((t) => [t.id, t]));
  const stillBlocks = (id: number) =>
    !candidates.has(id) && (relaunched.has(id) ? relaunched.get(id) === 'blocked' : WONT_SUCCEED.includes(deps.get(id)!));
  for (let changed = true; changed;) {
    changed = false;
    for (const t of candidates.values()) {
      if (t.depends_on.some(stillBlocks)) {
        candidates.delete(t.id);
        changed = true;
      }
    }
  }
  await recordEvents(tx, [...candidates.values()].map((t) => ({
    type: 'task.unblocked' as const, streamId: t.id, version: t.version + 1,
    data: { dependency: t.depends_on.find((id) => relaunched.has(id) || candidates.has(id))! },
  })), meta);
}

/**
 * The pending tasks that depend on the relaunched ones wait for them again. Waiting ones are
 * locked too: a command that ends another of their dependencies may be releasing one right
 * now, having read the relaunched task as it was; once its lock is granted, the row is read
 * again as that command left it, and one it released is unreleased here.
 */
async function unreleaseDependents(tx: Db, relaunched: number[], meta: EventMeta): Promise<void> {
  const ids = sql.array(relaunched, 'int8');
  const dependents = await tx.any(sql.type(Dependent)`
    SELECT id, status, version, depends_on FROM tasks WHERE status IN ('pending', 'waiting') AND depends_on && ${ids} ORDER BY id FOR UPDATE`);
  const released = dependents.filter((t) => t.status === 'pending');
  await recordEvents(tx, released.map((t) => ({
    type: 'task.unreleased' as const, streamId: t.id, version: t.version + 1,
    data: { dependency: t.depends_on.find((id) => relaunched.includes(id))! },
  })), meta);
}
