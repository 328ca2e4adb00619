// Command: a worker daemon registers (or registers again after a restart) under its name.
// The name keeps the same id, so a restarted daemon finds its executions again; the
// instance (a UUID the daemon keeps in its state directory) says which daemon owns the
// name now. A different instance may take the name over only once the owner has been
// silent for a whole lease: two live daemons sharing a row would each declare the other's
// executions lost, so the second one is refused with a message that says what to do. A
// worker token is bound to the first worker it registers (workers.token_id, recorded in
// worker.registered) and refused (403) under any other name.
import { sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import type { z as z4 } from 'zod/v4';
import type { EventMeta } from '../../shared/events.js';
import type { RegisterWorkerBody } from '../../shared/schemas/worker.js';
import type { Db, Pool } from '../db/pool.js';
import { forbidden, ProblemError } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';
import { touchWorkers } from './touchWorker.js';

type Registration = z4.output<typeof RegisterWorkerBody>;

const Owner = z.object({
  id: z.number(),
  version: z.number(),
  instance: z.string().nullable(),
  hostname: z.string(),
  silent_seconds: z.number().nullable(),
  /** The live token it is bound to: a revoked one lets another token take the worker over. */
  token_id: z.number().nullable(),
});

export class WorkerNameInUse extends ProblemError {
  constructor(name: string, owner: z.infer<typeof Owner>, leaseSeconds: number) {
    super(409, 'Worker name in use',
      `the worker name "${name}" is in use by another running worker daemon (on host ${owner.hostname}, ` +
      `heard from ${Math.round(owner.silent_seconds ?? 0)} s ago): start this one with a name of its own ` +
      `(labq worker --name NAME), or stop the other one (its name is free once it has been silent for ${leaseSeconds} s)`);
  }
}

/**
 * A worker token may register only as the worker it is bound to, and binds to the first
 * it registers unless another live token holds that one. Read in the transaction, not from
 * the caller's identity: two first registrations of one token may race.
 */
async function checkBinding(tx: Db, name: string, existing: z.infer<typeof Owner> | null, tokenId: number): Promise<void> {
  const bound = await tx.maybeOne(sql.unsafe`SELECT id, name FROM workers WHERE token_id = ${tokenId}`);
  if (bound && bound.id !== existing?.id) {
    throw forbidden(`this token is bound to worker "${bound.name}" (${bound.id}): it may register only as that worker; give each worker its own token`);
  }
  if (existing && existing.token_id !== null && existing.token_id !== tokenId) {
    throw forbidden(`worker "${name}" is bound to another token: start this daemon with that token, or revoke it first`);
  }
}

async function registerOnce(pool: Pool, body: Registration, leaseSeconds: number, meta: EventMeta, tokenId: number | null): Promise<number> {
  return pool.transaction(async (tx) => {
    const existing = await tx.maybeOne(sql.type(Owner)`
      SELECT w.id, w.version, w.instance, w.hostname,
             extract(epoch FROM clock_timestamp() - l.last_seen_at)::float8 AS silent_seconds,
             CASE WHEN t.revoked_at IS NULL THEN t.id END AS token_id
      FROM workers w LEFT JOIN worker_liveness l ON l.worker_id = w.id LEFT JOIN api_tokens t ON t.id = w.token_id
      WHERE w.name = ${body.name} FOR UPDATE OF w`);
    if (tokenId !== null) await checkBinding(tx, body.name, existing, tokenId);
    if (existing && existing.instance !== null && existing.instance !== body.instance &&
        existing.silent_seconds !== null && existing.silent_seconds < leaseSeconds) {
      throw new WorkerNameInUse(body.name, existing, leaseSeconds);
    }
    const id = existing ? existing.id : Number(await tx.oneFirst(sql.unsafe`SELECT nextval('worker_ids')`));
    await recordEvents(tx, [{
      type: 'worker.registered',
      streamId: id,
      version: existing ? existing.version + 1 : 1,
      data: {
        name: body.name, instance: body.instance, hostname: body.hostname, cpus: body.cpus, memory_mb: body.memory_mb,
        docker: body.docker, gpus: body.gpus, capabilities: body.capabilities, tags: body.tags, concurrency: body.concurrency,
        prefetch: body.prefetch, agent_version: body.agent_version ?? null, token_id: tokenId,
      },
    }], meta);
    // worker.registered leaves it online: only the liveness row is left to write.
    await touchWorkers(tx, [{ worker: { id, status: 'online', version: 0 }, meta, seq: 0 }]);
    return id;
  });
}

/** `tokenId`: the worker token registering, bound to the worker from then on; null for an admin token, bound to nothing. */
export async function registerWorker(pool: Pool, body: Registration, leaseSeconds: number, meta: EventMeta, tokenId: number | null): Promise<number> {
  try {
    return await registerOnce(pool, body, leaseSeconds, meta, tokenId);
  } catch (error) {
    // Two first registrations of one name, or of one token, at once: the loser finds the winner's row.
    if (error instanceof UniqueIntegrityConstraintViolationError) return registerOnce(pool, body, leaseSeconds, meta, tokenId);
    throw error;
  }
}
