// Read side of the overview (GET /stats): the whole queue at a glance. Each part is one
// statement over a projection or an index made for it (sql/0026_stats.sql), so the answer
// costs the same whether the log holds a thousand tasks or millions: counts come from the
// task_counts deltas, finishes and failures from the executions finished in the window.
import { sql } from 'slonik';
import type { Stats } from '../../shared/schemas/stats.js';
import type { TaskCounts } from '../../shared/schemas/workflow.js';
import { LIVE_STATUS_LIST } from '../db/literals.js';
import type { Db } from '../db/pool.js';
import { taskCounts } from './counts.js';
import { listed, STATUS_REASON, waitingReasons } from './why.js';

const RECENT_FAILURES = 20;
const ERROR_CHARS = 300;

/** Executions that ended in each of the last `minutes` minutes, every minute present: one grouped range read. */
const finishedPerMinute = async (db: Db, minutes: number) => (await db.any(sql.unsafe`
  WITH w AS (SELECT date_trunc('minute', now()) - make_interval(mins => ${minutes - 1}) AS first, date_trunc('minute', now()) AS last),
  done AS (
    SELECT date_trunc('minute', x.finished_at) AS minute,
           count(*) FILTER (WHERE x.status = 'succeeded')::int AS succeeded,
           count(*) FILTER (WHERE x.failure_class IS NOT NULL)::int AS failed
    FROM executions x, w WHERE x.finished_at >= w.first GROUP BY 1)
  SELECT m AS minute, coalesce(done.succeeded, 0) AS succeeded, coalesce(done.failed, 0) AS failed
  FROM w, generate_series(w.first, w.last, interval '1 minute') AS m LEFT JOIN done ON done.minute = m
  ORDER BY m`)) as unknown as Stats['finished_per_minute'];

const workerFigures = async (db: Db) => (await db.one(sql.unsafe`
  SELECT count(*) FILTER (WHERE w.status = 'online')::int AS online,
         count(*) FILTER (WHERE w.status = 'offline')::int AS offline,
         count(*) FILTER (WHERE w.status = 'lost')::int AS lost,
         coalesce(sum(w.concurrency + w.prefetch) FILTER (WHERE w.status = 'online' AND NOT w.paused), 0)::int AS slots,
         (SELECT count(*) FROM executions x JOIN workers a ON a.id = x.worker_id
          WHERE x.status IN (${LIVE_STATUS_LIST}) AND a.status = 'online' AND NOT a.paused)::int AS busy
  FROM workers w`)) as Stats['workers'];

const recentFailures = async (db: Db) => (await db.any(sql.unsafe`
  SELECT x.task_id, t.name AS task_name, x.id AS execution_id, x.attempt, x.failure_class, x.exit_code,
         left(x.error, ${ERROR_CHARS}) AS error, x.worker_id, w.name AS worker_name, x.finished_at
  FROM executions x JOIN tasks t ON t.id = x.task_id LEFT JOIN workers w ON w.id = x.worker_id
  WHERE x.failure_class IS NOT NULL
  ORDER BY x.finished_at DESC, x.id DESC LIMIT ${RECENT_FAILURES}`)) as unknown as Stats['recent_failures'];

/** Pending tasks read to split them by reason; beyond that many, the split of the oldest is scaled to them all. */
export const PENDING_SAMPLE = 10_000;

/** Shares of `total` in the proportions of `parts`, rounded so that they add up to it (largest remainders). */
function scaled<T extends { count: number }>(parts: readonly T[], total: number): T[] {
  const sum = parts.reduce((n, p) => n + p.count, 0);
  const exact = parts.map((p) => (p.count * total) / sum);
  const out = parts.map((p, i) => ({ ...p, count: Math.floor(exact[i]!) }));
  const byRemainder = parts.map((_, i) => i).sort((a, b) => (exact[b]! % 1) - (exact[a]! % 1));
  for (const i of byRemainder.slice(0, total - out.reduce((n, p) => n + p.count, 0))) out[i]!.count++;
  return out;
}

/**
 * Every task not started under its main reason. Held, waiting and blocked tasks are counted
 * by status (task_counts); pending ones are judged as GET /steps/{id}/why judges them, from
 * a grouped read of at most PENDING_SAMPLE of them (the oldest), so that a queue of a
 * million pending tasks costs no more than one of ten thousand.
 */
async function waitingTasks(db: Db, counts: TaskCounts): Promise<Pick<Stats, 'waiting' | 'waiting_estimated'>> {
  const byStatus = (['held', 'waiting', 'blocked'] as const).filter((s) => counts[s]).map((s) => {
    const { code, message } = STATUS_REASON[s]!;
    return { code, count: counts[s]!, ...listed([message]) };
  });
  const pending = counts.pending ?? 0;
  const read = pending ? await waitingReasons(db, sql.fragment`TRUE`, { status: 'pending', limit: PENDING_SAMPLE }) : [];
  const total = read.reduce((n, r) => n + r.count, 0);
  const estimated = total >= PENDING_SAMPLE && pending > total;
  const reasons = [...byStatus, ...(estimated ? scaled(read, pending) : read)].sort((a, b) => b.count - a.count);
  return { waiting: reasons, waiting_estimated: estimated };
}

async function countsAndWaiting(db: Db) {
  const counts = (await taskCounts(db, 'all', [0])).get(0) ?? {};
  return { counts, ...(await waitingTasks(db, counts)) };
}

export async function stats(db: Db, minutes: number): Promise<Stats> {
  const [tasks, perMinute, workers, failures] = await Promise.all([
    countsAndWaiting(db), finishedPerMinute(db, minutes), workerFigures(db), recentFailures(db),
  ]);
  return { counts: tasks.counts, finished_per_minute: perMinute, workers, recent_failures: failures, waiting: tasks.waiting, waiting_estimated: tasks.waiting_estimated };
}
