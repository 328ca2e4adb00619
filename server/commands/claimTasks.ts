// Claims pending tasks for the workers whose exchanges share a transaction: pickTasks for
// all of them, then recordClaims for all of them (workers/exchangeRounds.ts). Tasks are taken tag by tag in the worker's order (`*` last: any tag, and the only way to take a task tagged
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
import { literalList } from '../db/literals.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { TASK_COLUMNS } from '../queries/tasks.js';
import { CLAIMABLE, fitsSql, type WorkerResources } from '../requirements.js';

export interface ClaimingWorker extends WorkerResources {
  id: number;
  name: string;
}

export interface Claimed {
  execution_id: number;
  attempt: number;
  task: Task;
}

/** Tasks wanted by a worker; the workers of one call share their tags and resources (shapeOf). */
export interface Want {
  worker: ClaimingWorker;
  count: number;
}

/** What makes two workers take the same tasks: their tags and resources. */
export const shapeOf = (w: WorkerResources): string => JSON.stringify([w.tags, w.cpus, w.memory_mb, w.gpus, w.docker, [...w.capabilities].sort()]);

/**
 * Picks pending tasks for workers of one shape, one statement per tag whatever their
 * number, and hands them out in order: each worker's list, as many as it wants and there
 * are. `taken`: the tasks this transaction picked already (for workers of another shape),
 * since SKIP LOCKED does not skip a transaction's own locks. The same statement writes the
 * picked executions' leases (one round trip less on every claim: a dispatch is mostly its
 * round trips); their events are recordClaims'. A lease of an execution not yet inserted
 * locks nothing and is seen by no one before the commit (the table has no foreign key).
 */
export async function pickTasks(tx: Db, wants: Want[], leaseSeconds: number, taken: number[] = []): Promise<Claimed[][]> {
  const lists: Claimed[][] = wants.map(() => []);
  const shape = wants[0]?.worker;
  if (!shape) return lists;
  const explicit = shape.tags.filter((t) => t !== '*');
  // The tags and the bound of the inner LIMIT are literals, not parameters: the statement is
  // prepared (server/db/preparedDriver.ts), and after five runs PostgreSQL may keep a generic
  // plan, chosen without its parameters' values (the exchanges' batches use no other). Without the tag's value that plan read the
  // pending tasks of every tag by priority and filtered them by tag (server/http/steering.test.ts);
  // with it, one statement per tag and power of two, the plan reads that tag's index entries
  // only. The outer LIMIT, a parameter, takes exactly what is wanted: rows are locked (and
  // execution ids drawn) only as it pulls them.
  const lanes: FragmentSqlToken[] = explicit.map((tag) => sql.fragment`tag = ${sql.literalValue(tag)}`);
  if (shape.tags.includes('*')) {
    // The priority range (true of every task) is what lets this lane, and no tag's, read
    // tasks_claim_any (sql/0027_claim_any_order.sql).
    const range = sql.fragment`priority BETWEEN -1000 AND 1000`;
    lanes.push(explicit.length === 0 ? range : sql.fragment`${range} AND tag NOT IN (${literalList(explicit)})`);
  }
  const notTaken = taken.length === 0 ? sql.fragment`TRUE` : sql.fragment`id <> ALL(${sql.array(taken, 'int8')})`;
  for (const lane of lanes) {
    const owners = wants.flatMap((w, i) => Array.from({ length: Math.max(0, w.count - lists[i]!.length) }, () => i));
    if (owners.length === 0) break;
    const bound = 2 ** Math.ceil(Math.log2(owners.length));
    // The n-th task by rank goes to the n-th free slot (`owners`), in SQL for its lease and
    // here for the answer, by the rank the statement returns.
    const rows = (await tx.any(sql.unsafe`
      WITH picked AS (
        SELECT t.*, nextval('execution_ids') AS next_execution_id FROM (
          SELECT ${TASK_COLUMNS} FROM tasks
          WHERE ${CLAIMABLE} AND ${lane} AND ${fitsSql(shape)}
            AND age(xmin) >= 0 AND ${notTaken}
          ORDER BY priority DESC, id
          LIMIT ${sql.literalValue(String(bound))}
          FOR UPDATE SKIP LOCKED) t
        LIMIT ${owners.length}),
      ranked AS (SELECT p.*, row_number() OVER (ORDER BY priority DESC, id) AS rank FROM picked p),
      leased AS (
        INSERT INTO execution_leases (execution_id, worker_id, expires_at)
        SELECT next_execution_id, (${sql.array(owners.map((i) => wants[i]!.worker.id), 'int8')})[rank], clock_timestamp() + make_interval(secs => ${leaseSeconds})
        FROM ranked)
      SELECT * FROM ranked ORDER BY rank`)) as unknown as Array<Task & { next_execution_id: number; rank: number }>;
    for (const { next_execution_id: id, rank, ...task } of rows) {
      const executionId = Number(id);
      const attempt = task.attempts + 1;
      lists[owners[Number(rank) - 1]!]!.push({ execution_id: executionId, attempt, task: { ...task, status: 'assigned', attempts: attempt, execution_id: executionId } });
    }
  }
  return lists;
}

/** An assignment picked for a worker, with the meta of the request it answers when it differs from the batch's. */
export interface Claim extends Claimed {
  worker: ClaimingWorker;
  meta?: EventMeta;
}

/** Appends the `execution.assigned` events of assignments picked for any number of workers, in one statement. */
export async function recordClaims(tx: Db, claims: Claim[], meta: EventMeta): Promise<void> {
  if (claims.length === 0) return;
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
