// Records that a worker was heard from (operational, not an event) and, if it was shown
// offline or lost, appends the event that brings it back online; a daemon that leaves (it
// drained) is shown offline at once instead. The caller holds the worker's row lock and
// passes the row it read, so nothing is read twice.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';

/**
 * `seq`: the number of the poll being served, kept as the highest seen (sql/0011_poll_seq.sql);
 * 0 on registration, which starts the count again; absent (a poll without one) leaves it.
 */
export async function touchWorker(
  tx: Db, worker: { id: number; status: string; version: number }, meta: EventMeta, seq?: number, status: 'online' | 'offline' = 'online',
): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO worker_liveness AS l (worker_id, last_seen_at, poll_seq) VALUES (${worker.id}, clock_timestamp(), ${seq ?? 0})
    ON CONFLICT (worker_id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
      poll_seq = ${seq === undefined ? sql.fragment`l.poll_seq` : sql.fragment`excluded.poll_seq`}`);
  if (worker.status !== status) {
    await recordEvents(tx, [{ type: 'worker.status_changed', streamId: worker.id, version: worker.version + 1, data: { status } }], meta);
  }
}
