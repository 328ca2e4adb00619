// Command (run by the reaper): a worker not heard from for offlineAfter seconds shows
// offline; not heard from for a whole lease, lost (its executions are lost by then too).
// A deleted worker is left as it was deleted.
import { sql } from 'slonik';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';

const meta = { actor: 'reaper', request_id: null, source: null };

export async function markWorkersAbsent(pool: Pool, offlineAfterSeconds: number, lostAfterSeconds: number): Promise<number> {
  return pool.transaction(async (tx) => {
    const rows = await tx.any(sql.unsafe`
      SELECT w.id, w.version,
             -- Always offline first, lost at a later round: the log shows both steps.
             CASE WHEN w.status = 'online' THEN 'offline' ELSE 'lost' END AS next
      FROM workers w JOIN worker_liveness l ON l.worker_id = w.id
      WHERE w.deleted_at IS NULL
        AND ((w.status = 'online' AND l.last_seen_at < clock_timestamp() - make_interval(secs => ${offlineAfterSeconds}))
          OR (w.status = 'offline' AND l.last_seen_at < clock_timestamp() - make_interval(secs => ${lostAfterSeconds})))
      ORDER BY w.id
      FOR UPDATE OF w SKIP LOCKED`);
    await recordEvents(tx, rows.map((w) => ({ type: 'worker.status_changed' as const, streamId: w.id, version: w.version + 1, data: { status: w.next } })), meta);
    return rows.length;
  });
}
