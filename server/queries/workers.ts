// Read side of workers: settings, status, when last heard from, live executions.
import { sql, type FragmentSqlToken } from 'slonik';
import type { Worker } from '../../shared/schemas/worker.js';
import type { Db } from '../db/pool.js';
import { decodeCursor, pageOf } from './pagination.js';

const select = (where: FragmentSqlToken) => sql.unsafe`
  SELECT w.id, w.name, w.instance, w.hostname, w.cpus, w.memory_mb, w.docker, w.gpus, w.capabilities, w.tags, w.concurrency,
         w.prefetch, w.paused, w.status, w.agent_version, w.registered_at, w.updated_at, w.version, w.settings_version, l.last_seen_at,
         (SELECT count(*) FROM executions x WHERE x.worker_id = w.id
            AND x.status IN ('assigned', 'downloading', 'running', 'uploading'))::int AS live_executions
  FROM workers w LEFT JOIN worker_liveness l ON l.worker_id = w.id
  WHERE ${where}`;

export async function getWorker(db: Db, id: number): Promise<Worker | null> {
  return (await db.maybeOne(select(sql.fragment`w.id = ${id}`))) as Worker | null;
}

export async function listWorkers(db: Db, query: { cursor?: string; limit: number }) {
  const rows = await db.any(sql.unsafe`${select(sql.fragment`w.id > ${decodeCursor(query.cursor)}`)} ORDER BY w.id LIMIT ${query.limit + 1}`);
  return pageOf(rows as unknown as Worker[], query.limit);
}
