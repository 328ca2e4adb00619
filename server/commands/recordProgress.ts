// Command: keeps the latest transfer figures a worker sends in its exchange, one row per
// execution in `execution_progress`, upserted for all of them in one statement. Not an
// event: the figures change every second and are not a change of state; only the latest
// count. Fenced by the lease: figures for an execution whose lease this worker does not
// hold (lost, ended, another worker's, unknown) are ignored, not refused, since a transfer
// races its own end and the figures are worthless once it is over. The leases are locked
// FOR KEY SHARE in execution id order before the rows they own: a lease deleted meanwhile
// (the reaper, a cancel) is waited for and then skipped, never a foreign-key error, and its
// deletion waits for this transaction. Lock order: after the leases (the caller renews
// them first), before waiting dependents.
import { sql } from 'slonik';
import type { ProgressReport } from '../../shared/schemas/worker.js';
import type { Db } from '../db/pool.js';
import { jsonb } from '../db/jsonb.js';

/** The figures of any number of workers (a transaction that serves several exchanges): one statement, its leases locked in one order. */
export async function recordProgress(tx: Db, figures: Array<ProgressReport & { worker_id: number }>): Promise<void> {
  if (figures.length === 0) return;
  await tx.query(sql.unsafe`
    WITH f AS (
      SELECT * FROM jsonb_to_recordset(${jsonb(figures)}) AS f(execution_id bigint, worker_id bigint, phase text, bytes_done bigint, bytes_total bigint)
    ), held AS (
      SELECT l.execution_id FROM execution_leases l JOIN f ON f.execution_id = l.execution_id AND f.worker_id = l.worker_id
      ORDER BY l.execution_id FOR KEY SHARE OF l)
    INSERT INTO execution_progress (execution_id, phase, bytes_done, bytes_total, updated_at)
    SELECT f.execution_id, f.phase, f.bytes_done, f.bytes_total, clock_timestamp()
    FROM f JOIN held USING (execution_id)
    ORDER BY f.execution_id
    ON CONFLICT (execution_id) DO UPDATE
      SET phase = excluded.phase, bytes_done = excluded.bytes_done, bytes_total = excluded.bytes_total, updated_at = excluded.updated_at`);
}
