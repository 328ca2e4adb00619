// Command: delete a worker that is not online, so that a machine retired for good leaves
// the list. Refused (409) while it is online: its daemon would keep claiming under a row
// nobody sees. The row stays, marked (worker.deleted): executions keep naming it for their
// history, the name keeps its id, and a daemon registering under the name again brings it
// back (its registration clears the mark). The row lock serialises this with the worker's
// polls and registrations, which bring it online under the same lock.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Pool } from '../db/pool.js';
import { conflict, notFound } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';

export async function deleteWorker(pool: Pool, workerId: number, meta: EventMeta): Promise<void> {
  await pool.transaction(async (tx) => {
    const worker = await tx.maybeOne(sql.unsafe`
      SELECT w.name, w.status, w.version, extract(epoch FROM clock_timestamp() - l.last_seen_at)::float8 AS silent_seconds
      FROM workers w LEFT JOIN worker_liveness l ON l.worker_id = w.id
      WHERE w.id = ${workerId} AND w.deleted_at IS NULL FOR UPDATE OF w`);
    if (!worker) throw notFound(`worker ${workerId}`);
    if (worker.status === 'online') {
      throw conflict(
        `worker ${workerId} (${worker.name}) is online (heard from ${Math.round(worker.silent_seconds ?? 0)} s ago): stop its daemon, ` +
        `or drain it (labq workers set ${workerId} --drain) and wait until it shows offline, then delete it`,
      );
    }
    await recordEvents(tx, [{ type: 'worker.deleted', streamId: workerId, version: worker.version + 1, data: { name: worker.name, status: worker.status } }], meta);
  });
}
