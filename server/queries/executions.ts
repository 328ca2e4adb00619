// Read side of executions: one attempt, and its output in the order it was stored.
import { sql } from 'slonik';
import type { Execution } from '../../shared/schemas/execution.js';
import type { Db } from '../db/pool.js';

export const EXECUTION_COLUMNS = sql.fragment`
  id, task_id, attempt, worker_id, status, assigned_at, downloading_at, running_at, uploading_at,
  finished_at, exit_code, peak_memory_bytes, cpu_seconds, failure_class, error, suspended, suspended_at, version`;

export async function getExecution(db: Db, id: number): Promise<Execution | null> {
  return (await db.maybeOne(sql.unsafe`SELECT ${EXECUTION_COLUMNS} FROM executions WHERE id = ${id}`)) as Execution | null;
}

/** Bytes stored per stream (the truncation mark not counted), and whether the cap was hit. */
export async function outputSize(db: Db, executionId: number) {
  return db.one(sql.unsafe`
    SELECT coalesce(sum(length(data)) FILTER (WHERE stream = 'stdout' AND seq >= 0), 0)::bigint AS stdout,
           coalesce(sum(length(data)) FILTER (WHERE stream = 'stderr' AND seq >= 0), 0)::bigint AS stderr,
           coalesce((SELECT dropped > 0 FROM execution_output_size WHERE execution_id = ${executionId}), false) AS truncated
    FROM execution_output WHERE execution_id = ${executionId}`) as Promise<{ stdout: number; stderr: number; truncated: boolean }>;
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
