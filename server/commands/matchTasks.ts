// The first step of every bulk operation on tasks (hold, release, cancel, relaunch, edit):
// lock the tasks a filter matches, in id order (waiting ones last, as in the documented order),
// and account for what became of each in the answer. One statement whatever the number
// of tasks, up to MAX_BULK_TASKS (shared/limits.ts): beyond, the request is refused before anything changes.
import { sql, type FragmentSqlToken } from 'slonik';
import { z } from 'zod';
import { MAX_BULK_TASKS } from '../../shared/limits.js';
import { BULK_LISTED_IDS, type BulkResult } from '../../shared/schemas/steering.js';
import type { TaskFilter, TaskStatus } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';
import { ProblemError } from '../errors.js';
import { taskWhere } from '../queries/tasks.js';

export const MatchedTask = z.object({
  id: z.number(),
  status: z.string().transform((s) => s as TaskStatus),
  version: z.number(),
  execution_id: z.number().nullable(),
  workflow_id: z.number().nullable(),
  step_id: z.number().nullable(),
  tag: z.string(),
  depends_on: z.array(z.number()),
  accept_failure: z.boolean(),
  attempts: z.number(),
});
export type MatchedTask = z.infer<typeof MatchedTask>;
export const TaskId = z.object({ id: z.number() });

/**
 * Locks the tasks `where` selects, waiting ones last, each group in id order, as every
 * command that releases dependents does (the finished task, then its waiting dependents).
 * The groups are two statements, and a task whose status flips between them (a relaunch
 * makes it wait, a cancel of its dependency releases it) is in neither: the third takes
 * what they left, so that no task matched is passed over. The first two keep the id index's
 * order and stop at `limit`.
 */
async function lockInWaves<T extends { id: number }>(tx: Db, columns: FragmentSqlToken, parser: z.ZodType<T, z.ZodTypeDef, any>, where: FragmentSqlToken[], limit: number): Promise<T[]> {
  const read = (more: FragmentSqlToken) => tx.any(sql.type(parser)`
    SELECT ${columns} FROM tasks WHERE ${sql.join([...where, more], sql.fragment` AND `)} ORDER BY id LIMIT ${limit} FOR UPDATE`);
  const rows = [...(await read(sql.fragment`status <> 'waiting'`)), ...(await read(sql.fragment`status = 'waiting'`))];
  rows.push(...(await read(sql.fragment`id <> ALL(${sql.array(rows.map((r) => r.id), 'int8')})`)));
  return rows.sort((a, b) => a.id - b.id);
}

const MATCHED_COLUMNS = sql.fragment`id, status, version, execution_id, workflow_id, step_id, tag, depends_on, accept_failure, attempts`;

/** The tasks a filter matches, locked (unless `lock` is false: a dry run changes nothing). */
async function lockMatchingTasks(tx: Db, filter: TaskFilter, lock = true): Promise<MatchedTask[]> {
  const where = [...taskWhere(filter), sql.fragment`TRUE`];
  const rows = lock
    ? await lockInWaves(tx, MATCHED_COLUMNS, MatchedTask, where, MAX_BULK_TASKS + 1)
    : [...await tx.any(sql.type(MatchedTask)`SELECT ${MATCHED_COLUMNS} FROM tasks WHERE ${sql.join(where, sql.fragment` AND `)} ORDER BY id LIMIT ${MAX_BULK_TASKS + 1}`)];
  if (rows.length > MAX_BULK_TASKS) {
    throw new ProblemError(413, 'Too many tasks', `the filter matches more than ${MAX_BULK_TASKS} tasks: narrow it (by step, status, tag or ids)`);
  }
  return rows;
}

/**
 * The tasks the filter matches, unlocked, as the CTE `matched(id, status, depends_on)`:
 * what a command that locks more than them reads first, to lock it all with lockInOrder.
 */
export const matchedCte = (filter: TaskFilter) => sql.fragment`matched AS MATERIALIZED (
  SELECT id, status, depends_on FROM tasks WHERE ${sql.join([...taskWhere(filter), sql.fragment`TRUE`], sql.fragment` AND `)}
  ORDER BY id LIMIT ${MAX_BULK_TASKS + 1})`;

/**
 * Locks these tasks in the order of every bulk command (lockInWaves). A command that locks
 * tasks besides those it matches (their dependencies, the dependents it moves) locks them
 * all this way first: taken after the matched ones, one with a smaller id would meet a
 * command over both the other way, a deadlock.
 */
export async function lockInOrder(tx: Db, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await lockInWaves(tx, sql.fragment`id`, TaskId, [sql.fragment`id = ANY(${sql.array([...ids], 'int8')})`], ids.length);
}

/** Why an id a filter names is skipped when no task has it: a typo must not pass unseen. */
export const NO_SUCH_TASK = 'no such task';

/**
 * The start of every bulk operation: the tasks the filter matches, locked unless it is a dry
 * run, and its outcome with the ids the filter names that no task has already skipped.
 */
export async function openBulk(tx: Db, filter: TaskFilter, dryRun = false): Promise<{ tasks: MatchedTask[]; outcome: BulkOutcome }> {
  const tasks = await lockMatchingTasks(tx, filter, !dryRun);
  const outcome = new BulkOutcome(tasks.length, dryRun);
  if (filter.ids && tasks.length < filter.ids.length) {
    const unknown = await tx.anyFirst(sql.type(TaskId)`
      SELECT DISTINCT n.id FROM unnest(${sql.array(filter.ids, 'int8')}::int8[]) AS n(id) WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = n.id) ORDER BY n.id`);
    for (const id of unknown) outcome.skip(id, NO_SUCH_TASK);
  }
  return { tasks, outcome };
}

/** What a bulk operation did with each matched task: changed, or skipped and why. */
export class BulkOutcome {
  private readonly changedIds: number[] = [];
  private readonly skips = new Map<string, number[]>();

  constructor(private readonly matched: number, private readonly dryRun = false) {}

  changed(id: number): void {
    this.changedIds.push(id);
  }

  skip(id: number, reason: string): void {
    const ids = this.skips.get(reason) ?? [];
    ids.push(id);
    this.skips.set(reason, ids);
  }

  get changedCount(): number {
    return this.changedIds.length;
  }

  result(extra: Pick<BulkResult, 'sample'> = {}): BulkResult {
    return {
      matched: this.matched,
      changed: this.changedIds.length,
      task_ids: this.changedIds.slice(0, BULK_LISTED_IDS),
      skipped: [...this.skips].map(([reason, ids]) => ({ reason, count: ids.length, task_ids: ids.slice(0, 20) })),
      dry_run: this.dryRun,
      ...extra,
    };
  }
}
