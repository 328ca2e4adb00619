// The first step of pausing or resuming: take the pauses lock exclusively (sharePausesLock),
// lock the stream of what is paused (a workflow's or a step's row; the `queue` stream of
// tags and everything has no row: the pauses lock serves it), read its version and whether
// it is paused now. Taken before any task lock; the
// live tasks of the scope are locked after it when a pause or resume signals them.
import { sql, type FragmentSqlToken } from 'slonik';
import { LIVE_STATUSES } from '../../shared/schemas/execution.js';
import { UNFINISHED_TASK_STATUSES } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';
import { notFound } from '../errors.js';

export type Scope = { kind: 'workflow'; id: number } | { kind: 'step'; id: number } | { kind: 'queue'; tag: string | null };

export interface LockedScope {
  /** The stream's version now: the next event is version + 1. */
  version: number;
  paused: boolean;
  /** The pauses row of the scope. */
  row: { scope: string; key: string };
  /** The tasks the scope covers, as a condition on tasks. */
  covers: FragmentSqlToken;
}

const PAUSES_LOCK = 7_162_534_003;

/**
 * Whether a task is paused is computed when it enters the queue (a submission, a relaunch,
 * an edit) and by a pause or resume over the tasks that exist: a pause must not run while a
 * task is entering, or one of them would miss the other's uncommitted rows. Those commands
 * take this lock shared, before any task lock; a pause or resume takes it exclusively.
 */
const SHARED_PAUSES_LOCK = sql.fragment`pg_advisory_xact_lock_shared(${PAUSES_LOCK})`;

export const sharePausesLock = (tx: Db) => tx.query(sql.unsafe`SELECT ${SHARED_PAUSES_LOCK}`);

/**
 * The same, as the first CTE of a statement that has other work to do (a submit's ids, its
 * dependencies' locks): the statement reads `locked` so that the lock comes first.
 */
export const WITH_PAUSES_LOCK = sql.fragment`WITH locked AS MATERIALIZED (SELECT ${SHARED_PAUSES_LOCK})`;

export async function lockScope(tx: Db, scope: Scope): Promise<LockedScope> {
  let version: number;
  let row: LockedScope['row'];
  let covers: FragmentSqlToken;
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${PAUSES_LOCK})`);
  if (scope.kind === 'queue') {
    version = Number(await tx.oneFirst(sql.unsafe`SELECT coalesce(max(version), 0) FROM events WHERE stream_type = 'queue' AND stream_id = 0`));
    row = scope.tag === null ? { scope: 'all', key: '' } : { scope: 'tag', key: scope.tag };
    covers = scope.tag === null ? sql.fragment`TRUE` : sql.fragment`tag = ${scope.tag}`;
  } else {
    const table = scope.kind === 'workflow' ? sql.identifier(['workflows']) : sql.identifier(['steps']);
    const found = await tx.maybeOneFirst(sql.unsafe`SELECT version FROM ${table} WHERE id = ${scope.id} FOR UPDATE`);
    if (found === null) throw notFound(`${scope.kind} ${scope.id}`);
    version = Number(found);
    row = { scope: scope.kind, key: String(scope.id) };
    covers = scope.kind === 'workflow' ? sql.fragment`workflow_id = ${scope.id}` : sql.fragment`step_id = ${scope.id}`;
  }
  const paused = (await tx.maybeOneFirst(sql.unsafe`SELECT 1 FROM pauses WHERE scope = ${row.scope} AND scope_key = ${row.key}`)) !== null;
  return { version, paused, row, covers };
}

/** The live tasks of a scope, locked, for a signal to their executions. */
export async function liveTasksOf(tx: Db, scope: LockedScope): Promise<Array<{ id: number; execution_id: number; paused: boolean }>> {
  return (await tx.any(sql.unsafe`
    SELECT id, execution_id, paused FROM tasks WHERE ${scope.covers} AND status = ANY(${sql.array([...LIVE_STATUSES], 'text')})
    ORDER BY id FOR UPDATE`)) as Array<{ id: number; execution_id: number; paused: boolean }>;
}

/**
 * Locks, in id order as every command locks tasks, the unfinished tasks of the scope whose
 * paused flag is `paused`, and counts them: the projection's UPDATE that follows would take
 * them in the order of the table.
 */
export async function lockCovered(tx: Db, scope: LockedScope, paused: boolean): Promise<number> {
  return Number(await tx.oneFirst(sql.unsafe`
    SELECT count(*) FROM (SELECT 1 FROM tasks WHERE ${scope.covers} AND status = ANY(${sql.array(UNFINISHED_TASK_STATUSES, 'text')})
                          AND paused = ${paused} ORDER BY id FOR UPDATE) covered`));
}
