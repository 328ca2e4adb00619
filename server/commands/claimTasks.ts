// Claims up to `count` pending tasks for a worker in one transaction. Tasks are taken tag
// by tag in the worker's order (`*` last: any tag, and the only way to take a task tagged
// `*`), each tag by priority then age, through the partial indexes over pending tasks, so
// the cost does not grow with the number of finished tasks. FOR UPDATE SKIP LOCKED lets
// concurrent claims pass each other instead of queueing; the partial unique index
// executions_one_live is the database's own guarantee against two live executions. A task
// backing off after a failure (retry_at still ahead) waits: the reaper wakes the polls of
// its tag when the wait ends (commands/wakeRetries.ts). The log is read in the order of the
// writing transactions' ids (sql/0001_event_log.sql), and a poll's transaction takes its id
// when it locks its worker, before the claim: a task made pending by a transaction that took
// its id later (submitted meanwhile) waits for the next round (`age(xmin) >= 0`), or its
// `execution.assigned` would come before its `task.submitted` in the log. That submit's
// notification, come during this round, runs the next one at once.
import { sql, type FragmentSqlToken } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Task } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { TASK_COLUMNS } from '../queries/tasks.js';
import { fitsSql, type WorkerResources } from '../requirements.js';

export interface ClaimingWorker extends WorkerResources {
  id: number;
  name: string;
}

export interface Claimed {
  execution_id: number;
  attempt: number;
  task: Task;
}

/**
 * Picks up to `count` pending tasks for the worker and writes their leases; `taken`: the
 * tasks this transaction picked already for other workers, since SKIP LOCKED does not skip
 * a transaction's own locks. Their events are recordClaims'.
 */
export async function pickTasks(tx: Db, worker: ClaimingWorker, count: number, leaseSeconds: number, taken: number[] = []): Promise<Claimed[]> {
  if (count <= 0) return [];
  const picked: Array<Task & { next_execution_id: number }> = [];
  const explicit = worker.tags.filter((t) => t !== '*');
  // The tags and the count are literals, not parameters: the statement is prepared
  // (server/db/preparedDriver.ts), and after five runs PostgreSQL may keep a generic plan,
  // chosen without its parameters' values. Without the tag's value that plan read the pending
  // tasks of every tag by priority and filtered them by tag (server/http/steering.test.ts);
  // with it, one statement per tag and count, the plan reads that tag's index entries only.
  const lanes: FragmentSqlToken[] = explicit.map((tag) => sql.fragment`tag = ${sql.literalValue(tag)}`);
  if (worker.tags.includes('*')) {
    lanes.push(explicit.length === 0 ? sql.fragment`TRUE` : sql.fragment`tag NOT IN (${sql.join(explicit.map((t) => sql.literalValue(t)), sql.fragment`, `)})`);
  }
  const notTaken = taken.length === 0 ? sql.fragment`TRUE` : sql.fragment`id <> ALL(${sql.array(taken, 'int8')})`;
  for (const lane of lanes) {
    if (picked.length >= count) break;
    // The execution ids are drawn, and their leases written, with the rows: no round trip of
    // their own on the dispatch path. A lease of an execution not yet inserted locks nothing and
    // is seen by no one before the commit (the table has no foreign key).
    const rows = await tx.any(sql.unsafe`
      WITH picked AS (
        SELECT t.*, nextval('execution_ids') AS next_execution_id FROM (
          SELECT ${TASK_COLUMNS} FROM tasks
          WHERE status = 'pending' AND NOT paused AND ${lane} AND ${fitsSql(worker)} AND (retry_at IS NULL OR retry_at <= now())
            AND age(xmin) >= 0 AND ${notTaken}
          ORDER BY priority DESC, id
          LIMIT ${sql.literalValue(String(count - picked.length))}
          FOR UPDATE SKIP LOCKED) t
      ), leased AS (
        INSERT INTO execution_leases (execution_id, worker_id, expires_at)
        SELECT next_execution_id, ${worker.id}, clock_timestamp() + make_interval(secs => ${leaseSeconds}) FROM picked
      )
      SELECT * FROM picked ORDER BY priority DESC, id`);
    picked.push(...(rows as unknown as typeof picked));
  }
  return picked.map(({ next_execution_id: id, ...task }) => {
    const executionId = Number(id);
    const attempt = task.attempts + 1;
    return { execution_id: executionId, attempt, task: { ...task, status: 'assigned' as const, attempts: attempt, execution_id: executionId } };
  });
}

/** An assignment picked for a worker, with the meta of the request it answers when it differs from the batch's. */
export interface Claim extends Claimed {
  worker: ClaimingWorker;
  meta?: EventMeta;
}

/** Appends the `execution.assigned` events of assignments picked for any number of workers, in one append. */
export async function recordClaims(tx: Db, claims: Claim[], meta: EventMeta): Promise<void> {
  await recordEvents(tx, claims.map((c) => ({
    type: 'execution.assigned' as const,
    streamId: c.execution_id,
    version: 1,
    data: {
      task_id: c.task.id, worker_id: c.worker.id, worker_name: c.worker.name, attempt: c.attempt, command: c.task.command,
      shell: c.task.shell, container: c.task.container, launched_by: c.task.submitted_by,
    },
    meta: c.meta,
  })), meta);
}

export async function claimTasks(tx: Db, worker: ClaimingWorker, count: number, leaseSeconds: number, meta: EventMeta): Promise<Claimed[]> {
  const claimed = await pickTasks(tx, worker, count, leaseSeconds);
  await recordClaims(tx, claimed.map((c) => ({ ...c, worker })), meta);
  return claimed;
}
