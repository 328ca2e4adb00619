// The worker's long poll. One round, in one transaction under the worker's row lock:
// note it alive, renew the leases of what it holds, lose what it no longer holds, collect
// kill orders, and claim tasks up to its free capacity (concurrency + prefetch minus its
// live executions). When there is nothing to say, the poll parks on the LISTEN hub and
// runs another round when tasks, workers or executions change, until its wait expires.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { PollResponse } from '../../shared/schemas/worker.js';
import type { Pool } from '../db/pool.js';
import { notFound } from '../errors.js';
import type { ListenHub } from '../listen/hub.js';
import type { QueueSettings } from '../settings.js';
import { claimTasks } from '../commands/claimTasks.js';
import { LIVE, loseExecutions } from '../commands/loseExecutions.js';
import { renewLeases } from '../commands/renewLeases.js';
import { touchWorker } from '../commands/touchWorker.js';

export interface PollRequest {
  holding: number[];
  want: number;
  settings_version: number;
  wait_seconds: number;
  killing: number[];
}

async function pollRound(
  pool: Pool, workerId: number, request: PollRequest, settings: QueueSettings, meta: EventMeta, signal: AbortSignal,
): Promise<PollResponse> {
  return pool.transaction(async (tx) => {
    const worker = await tx.maybeOne(sql.unsafe`
      SELECT id, name, hostname, cpus, memory_mb, docker, gpus, capabilities, tags, concurrency, prefetch, paused, version
      FROM workers WHERE id = ${workerId} FOR UPDATE`);
    if (!worker) throw notFound(`worker ${workerId}`);
    await touchWorker(tx, workerId, meta);
    const { abandon, unheld } = await renewLeases(tx, workerId, request.holding, settings.leaseSeconds);
    await loseExecutions(tx, unheld, 'its worker no longer holds it', settings.maxLostExecutions, meta);
    const kill = await tx.any(sql.unsafe`
      SELECT id AS execution_id, kill_grace_seconds AS grace_seconds FROM executions
      WHERE worker_id = ${workerId} AND status = ANY(${sql.array(LIVE, 'text')}) AND kill_requested_at IS NOT NULL
      ORDER BY id`);
    const live = Number(await tx.oneFirst(sql.unsafe`
      SELECT count(*) FROM executions WHERE worker_id = ${workerId} AND status = ANY(${sql.array(LIVE, 'text')})`));
    // Nothing is claimed for a worker that hung up: it would never learn of it.
    const capacity = worker.paused || signal.aborted ? 0 : Math.max(0, worker.concurrency + worker.prefetch - live);
    const assignments = await claimTasks(tx, worker as any, Math.min(request.want, capacity), settings.leaseSeconds, meta);
    const current = await tx.one(sql.unsafe`SELECT concurrency, prefetch, tags, paused, settings_version FROM workers WHERE id = ${workerId}`);
    return {
      assignments,
      kill: kill as PollResponse['kill'],
      abandon,
      settings: { concurrency: current.concurrency, prefetch: current.prefetch, tags: current.tags, paused: current.paused },
      settings_version: current.settings_version,
      lease_seconds: settings.leaseSeconds,
    };
  });
}

/** Kill orders the worker already carries out do not end a parked poll: only news does. */
const worthAnswering = (r: PollResponse, request: PollRequest) =>
  r.assignments.length > 0 || r.abandon.length > 0 || r.settings_version !== request.settings_version ||
  r.kill.some((k) => !request.killing.includes(k.execution_id));

export async function poll(
  pool: Pool, hub: ListenHub, workerId: number, request: PollRequest, settings: QueueSettings, meta: EventMeta, signal: AbortSignal,
): Promise<PollResponse> {
  const deadline = Date.now() + Math.min(request.wait_seconds * 1000, (settings.leaseSeconds * 1000) / 3);
  let dirty = false;
  let emptyAnswer: PollResponse | undefined;
  let wakeUp: (() => void) | null = null;
  const unsubscribe = hub.subscribe((channel, changed) => {
    if (channel === null || changed === null || ['task', 'worker', 'execution'].some((t) => changed.has(t))) {
      dirty = true;
      wakeUp?.();
    }
  });
  const onAbort = () => wakeUp?.();
  signal.addEventListener('abort', onAbort);
  try {
    for (let round = 0; ; round++) {
      dirty = false;
      // A worker that hung up would never receive what a further round claims for it.
      if (round > 0 && signal.aborted) return emptyAnswer!;
      const response = await pollRound(pool, workerId, request, settings, meta, signal);
      if (worthAnswering(response, request) || Date.now() >= deadline || signal.aborted) return response;
      emptyAnswer = response;
      if (!dirty) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeUp = null;
      }
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}
