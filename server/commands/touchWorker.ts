// Records that workers were heard from (operational, not an event) and, for one shown
// offline or lost, appends the event that brings it back online; a daemon that leaves (it
// drained) is shown offline at once instead. The caller holds the workers' row locks and
// passes the rows it read, so nothing is read twice. One statement for any number of
// workers: the exchanges of many workers are served in one transaction (workers/exchangeRounds.ts).
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { jsonb } from '../db/jsonb.js';

export interface Touch {
  worker: { id: number; status: string; version: number };
  meta: EventMeta;
  /**
   * The number of the poll being served, kept as the highest seen (sql/0011_poll_seq.sql);
   * 0 on registration, which starts the count again; absent (a poll without one) leaves it.
   */
  seq?: number;
  status?: 'online' | 'offline';
}

export async function touchWorkers(tx: Db, touches: Touch[]): Promise<void> {
  if (touches.length === 0) return;
  const rows = touches.map((t) => ({ worker_id: t.worker.id, seq: t.seq ?? null })).sort((a, b) => a.worker_id - b.worker_id);
  await tx.query(sql.unsafe`
    WITH heard AS (SELECT * FROM jsonb_to_recordset(${jsonb(rows)}) AS h(worker_id bigint, seq bigint))
    INSERT INTO worker_liveness AS l (worker_id, last_seen_at, poll_seq)
    SELECT worker_id, clock_timestamp(), coalesce(seq, 0) FROM heard ORDER BY worker_id
    ON CONFLICT (worker_id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
      poll_seq = CASE WHEN (SELECT h.seq FROM heard h WHERE h.worker_id = l.worker_id) IS NULL THEN l.poll_seq ELSE excluded.poll_seq END`);
  const changed = touches.filter((t) => t.worker.status !== (t.status ?? 'online'));
  await recordEvents(tx, changed.map((t) => ({
    type: 'worker.status_changed' as const, streamId: t.worker.id, version: t.worker.version + 1, data: { status: t.status ?? 'online' }, meta: t.meta,
  })), touches[0]!.meta);
}
