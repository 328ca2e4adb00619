// Read side of workers: settings, status, when last heard from, live executions, the host
// figures its daemon last sent; and a worker's time line of executions. Deleted workers
// are out of the list and of a look-up by id, but their executions stay readable.
import { sql, type FragmentSqlToken } from 'slonik';
import type { Worker, WorkerExecution } from '../../shared/schemas/worker.js';
import { LIVE_STATUS_LIST } from '../db/literals.js';
import type { Db } from '../db/pool.js';
import { decodeCursor, pageOf } from './pagination.js';

const select = (where: FragmentSqlToken) => sql.unsafe`
  SELECT w.id, w.name, w.instance, w.hostname, w.cpus, w.memory_mb, w.docker, w.gpus, w.capabilities, w.tags, w.concurrency,
         w.prefetch, w.paused, w.draining, w.status, w.agent_version, w.registered_at, w.updated_at, w.version, w.settings_version,
         l.last_seen_at,
         (SELECT count(*) FROM executions x WHERE x.worker_id = w.id
            AND x.status IN (${LIVE_STATUS_LIST}))::int AS live_executions,
         CASE WHEN m.worker_id IS NOT NULL THEN jsonb_build_object(
           'load1', m.load1, 'cpu_percent', m.cpu_percent, 'memory_used_mb', m.memory_used_mb, 'memory_total_mb', m.memory_total_mb,
           'running', m.running, 'updated_at', m.updated_at) END AS metrics
  FROM workers w LEFT JOIN worker_liveness l ON l.worker_id = w.id LEFT JOIN worker_metrics m ON m.worker_id = w.id
  WHERE w.deleted_at IS NULL AND ${where}`;

/** jsonb_build_object writes times in PostgreSQL's text form: the API's are ISO 8601, as everywhere else. */
const isoMetrics = (row: Worker): Worker =>
  row.metrics ? { ...row, metrics: { ...row.metrics, updated_at: new Date(row.metrics.updated_at).toISOString() } } : row;

export async function getWorker(db: Db, id: number): Promise<Worker | null> {
  const row = (await db.maybeOne(select(sql.fragment`w.id = ${id}`))) as Worker | null;
  return row && isoMetrics(row);
}

export async function listWorkers(db: Db, query: { cursor?: string; limit: number }) {
  const rows = await db.any(sql.unsafe`${select(sql.fragment`w.id > ${decodeCursor(query.cursor)}`)} ORDER BY w.id LIMIT ${query.limit + 1}`);
  return pageOf((rows as unknown as Worker[]).map(isoMetrics), query.limit);
}

/** Every worker of the list, for the live view (a fleet is hundreds of rows, not millions). */
export async function allWorkers(db: Db): Promise<Worker[]> {
  return ((await db.any(sql.unsafe`${select(sql.fragment`TRUE`)} ORDER BY w.id`)) as unknown as Worker[]).map(isoMetrics);
}

/** Whether a worker row exists, deleted or not: its history stays readable. */
export async function workerExists(db: Db, id: number): Promise<boolean> {
  return (await db.maybeOneFirst(sql.unsafe`SELECT true FROM workers WHERE id = ${id}`)) !== null;
}

/** A worker's latest executions, newest first, through executions_by_worker. */
export async function workerExecutions(db: Db, workerId: number, limit: number): Promise<WorkerExecution[]> {
  return (await db.any(sql.unsafe`
    SELECT x.id, x.task_id, t.name AS task_name, x.attempt, x.status, x.assigned_at, x.running_at, x.finished_at, x.exit_code,
           x.failure_class
    FROM (SELECT * FROM executions WHERE worker_id = ${workerId} ORDER BY id DESC LIMIT ${limit}) x
    JOIN tasks t ON t.id = x.task_id
    ORDER BY x.id DESC`)) as unknown as WorkerExecution[];
}
