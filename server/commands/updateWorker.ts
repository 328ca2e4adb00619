// Command: change a worker's live settings (concurrency, prefetch, tags, paused, draining).
// The worker picks them up at its next poll; a parked poll returns at once. A draining
// worker is claimed nothing (requirements.ts acceptsWork) and its daemon leaves once what
// it runs has ended. A deleted worker has no settings to change (404).
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Pool } from '../db/pool.js';
import { notFound } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';

export interface WorkerChanges {
  concurrency?: number;
  prefetch?: number;
  tags?: string[];
  paused?: boolean;
  draining?: boolean;
}

export async function updateWorker(pool: Pool, workerId: number, changes: WorkerChanges, meta: EventMeta): Promise<void> {
  await pool.transaction(async (tx) => {
    const worker = await tx.maybeOne(sql.unsafe`SELECT version FROM workers WHERE id = ${workerId} AND deleted_at IS NULL FOR UPDATE`);
    if (!worker) throw notFound(`worker ${workerId}`);
    await recordEvents(tx, [{ type: 'worker.settings_changed', streamId: workerId, version: worker.version + 1, data: changes }], meta);
  });
}
