// Command: a worker registers (or registers again after a restart) under its name. The
// name is its identity: the same name keeps the same id, so a restarted worker finds its
// executions again.
import { sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { RegisterWorkerBody } from '../../shared/schemas/worker.js';
import type { z } from 'zod/v4';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { touchWorker } from './touchWorker.js';

type Registration = z.output<typeof RegisterWorkerBody>;

async function registerOnce(pool: Pool, body: Registration, meta: EventMeta): Promise<number> {
  return pool.transaction(async (tx) => {
    const existing = await tx.maybeOne(sql.unsafe`SELECT id, version FROM workers WHERE name = ${body.name} FOR UPDATE`);
    const id = existing ? existing.id : Number(await tx.oneFirst(sql.unsafe`SELECT nextval('worker_ids')`));
    await recordEvents(tx, [{
      type: 'worker.registered',
      streamId: id,
      version: existing ? existing.version + 1 : 1,
      data: {
        name: body.name, hostname: body.hostname, cpus: body.cpus, memory_mb: body.memory_mb, docker: body.docker,
        gpus: body.gpus, capabilities: body.capabilities, tags: body.tags, concurrency: body.concurrency,
        prefetch: body.prefetch, agent_version: body.agent_version ?? null,
      },
    }], meta);
    // worker.registered leaves it online: only the liveness row is left to write.
    await touchWorker(tx, { id, status: 'online', version: 0 }, meta);
    return id;
  });
}

export async function registerWorker(pool: Pool, body: Registration, meta: EventMeta): Promise<number> {
  try {
    return await registerOnce(pool, body, meta);
  } catch (error) {
    // Two first registrations of one name at once: the loser finds the winner's row.
    if (error instanceof UniqueIntegrityConstraintViolationError) return registerOnce(pool, body, meta);
    throw error;
  }
}
