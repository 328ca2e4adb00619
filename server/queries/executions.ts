// Read side of executions: one attempt, and its output in the order it was stored.
import { sql } from 'slonik';
import type { Execution } from '../../shared/schemas/execution.js';
import type { Db } from '../db/pool.js';

export const EXECUTION_COLUMNS = sql.fragment`
  id, task_id, attempt, worker_id, status, assigned_at, downloading_at, running_at, uploading_at,
  finished_at, exit_code, peak_memory_bytes, error, version`;

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
