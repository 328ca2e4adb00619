// Records that a worker was heard from (operational, not an event) and, if it was shown
// offline or lost, appends the event that brings it back online.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';

export async function touchWorker(tx: Db, workerId: number, meta: EventMeta): Promise<void> {
  await tx.query(sql.unsafe`
    INSERT INTO worker_liveness (worker_id, last_seen_at) VALUES (${workerId}, clock_timestamp())
    ON CONFLICT (worker_id) DO UPDATE SET last_seen_at = excluded.last_seen_at`);
  const worker = await tx.maybeOne(sql.unsafe`SELECT status, version FROM workers WHERE id = ${workerId}`);
  if (worker && worker.status !== 'online') {
    const locked = await tx.one(sql.unsafe`SELECT status, version FROM workers WHERE id = ${workerId} FOR UPDATE`);
    if (locked.status !== 'online') {
      await recordEvents(tx, [{ type: 'worker.status_changed', streamId: workerId, version: locked.version + 1, data: { status: 'online' } }], meta);
    }
  }
}
