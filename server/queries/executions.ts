// Read side of executions: one attempt with its worker's name and its transfer's latest
// figures, and its output in the order it was stored.
import { sql, type FragmentSqlToken } from 'slonik';
import { z } from 'zod';
import type { Execution, OutputSize } from '../../shared/schemas/execution.js';
import type { Db } from '../db/pool.js';

/**
 * Executions with the figures of their transfer. Figures of a phase the execution has left
 * (its worker's last word on a download that has ended since) are not shown: they stay
 * until the upload replaces them or the execution ends and its lease takes them along.
 */
const EXECUTIONS_WITH_PROGRESS = sql.fragment`
  SELECT x.id, x.task_id, x.attempt, x.worker_id, w.name AS worker_name, x.status, x.assigned_at, x.downloading_at, x.ready_at, x.running_at,
         x.uploading_at, x.finished_at, x.exit_code, x.peak_memory_bytes, x.cpu_seconds, x.failure_class, x.error, x.suspended,
         x.suspended_at, x.version, p.bytes_done, p.bytes_total, p.updated_at AS progress_at
  FROM executions x LEFT JOIN execution_progress p ON p.execution_id = x.id AND p.phase = x.status
  LEFT JOIN workers w ON w.id = x.worker_id`;

type Row = Omit<Execution, 'progress'> & { bytes_done: number | null; bytes_total: number | null; progress_at: string | null };

const execution = ({ bytes_done, bytes_total, progress_at, ...x }: Row): Execution => ({
  ...x,
  progress: progress_at === null ? null : { phase: x.status as 'downloading' | 'uploading', bytes_done: bytes_done!, bytes_total: bytes_total!, updated_at: progress_at },
});

/** The executions a condition on `x` (executions) selects, in the order given. */
export async function readExecutions(db: Db, where: FragmentSqlToken, orderBy: FragmentSqlToken): Promise<Execution[]> {
  const rows = await db.any(sql.unsafe`${EXECUTIONS_WITH_PROGRESS} WHERE ${where} ORDER BY ${orderBy}`);
  return (rows as unknown as Row[]).map(execution);
}

export async function getExecution(db: Db, id: number): Promise<Execution | null> {
  return (await readExecutions(db, sql.fragment`x.id = ${id}`, sql.fragment`x.id`))[0] ?? null;
}

const PerStream = z.object({ stdout: z.number(), stderr: z.number() });
const StoredOutput = PerStream.extend({ truncated: z.boolean(), next_seq: PerStream });

/**
 * Bytes stored per stream (the truncation mark not counted), whether the cap was hit, and
 * the chunk number each stream goes on from: a re-attached worker's chunks are cut where
 * the engine's log cuts them, not where the dead worker's were, so it numbers them after
 * every number the server has seen, or they would be taken for chunks sent twice.
 */
export async function outputSize(db: Db, executionId: number): Promise<OutputSize> {
  return db.one(sql.type(StoredOutput)`
    SELECT o.stdout, o.stderr, coalesce(s.dropped > 0, false) AS truncated,
           json_build_object('stdout', coalesce(s.stdout_seen, -1) + 1, 'stderr', coalesce(s.stderr_seen, -1) + 1) AS next_seq
    FROM (SELECT coalesce(sum(length(data)) FILTER (WHERE stream = 'stdout' AND seq >= 0), 0)::int8 AS stdout,
                 coalesce(sum(length(data)) FILTER (WHERE stream = 'stderr' AND seq >= 0), 0)::int8 AS stderr
          FROM execution_output WHERE execution_id = ${executionId}) o
    LEFT JOIN execution_output_size s ON s.execution_id = ${executionId}`);
}

export interface OutputChunk {
  n: number;
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export async function readOutput(db: Db, executionId: number, after: number, stream: string | undefined, limit: number): Promise<OutputChunk[]> {
  const rows = await db.any(sql.unsafe`
    SELECT n, stream, data FROM execution_output
    WHERE execution_id = ${executionId} AND n > ${after} ${stream ? sql.fragment`AND stream = ${stream}` : sql.fragment``}
    ORDER BY n LIMIT ${limit}`);
  return rows as unknown as OutputChunk[];
}

/** Statuses of several executions, by id. */
export async function executionStatuses(db: Db, ids: number[]): Promise<Map<number, string>> {
  const rows = await db.any(sql.unsafe`SELECT id, status FROM executions WHERE id = ANY(${sql.array(ids, 'int8')})`);
  return new Map(rows.map((r) => [r.id as number, r.status as string]));
}

export interface OutputCursor {
  execution: number;
  /** The last chunk number read. */
  after: number;
}

export const outputCursorKey = (c: OutputCursor) => `${c.execution}:${c.after}`;

/** readOutput (both streams) for several cursors in one statement, by outputCursorKey. */
export async function readOutputOfEach(db: Db, cursors: OutputCursor[], limit: number): Promise<Map<string, OutputChunk[]>> {
  const rows = await db.any(sql.unsafe`
    SELECT c.execution_id, c.after, o.n, o.stream, o.data
    FROM unnest(${sql.array(cursors.map((c) => c.execution), 'int8')}, ${sql.array(cursors.map((c) => c.after), 'int8')}) AS c(execution_id, after)
    CROSS JOIN LATERAL (
      SELECT n, stream, data FROM execution_output
      WHERE execution_id = c.execution_id AND n > c.after ORDER BY n LIMIT ${limit}) o
    ORDER BY c.execution_id, c.after, o.n`);
  const chunks = new Map<string, OutputChunk[]>(cursors.map((c) => [outputCursorKey(c), []]));
  for (const { execution_id, after, ...chunk } of rows as unknown as (OutputChunk & { execution_id: number; after: number })[]) {
    chunks.get(outputCursorKey({ execution: execution_id, after }))!.push(chunk);
  }
  return chunks;
}
