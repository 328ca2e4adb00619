// The worker side of the API driven directly with the typed client, as a daemon would
// drive it, for tests that need each poll and report under their own control.
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import type { PollBody, PollResponse, RegisterWorkerBody, Worker } from '../../shared/schemas/worker.js';
import { pollRounds } from '../../server/workers/poll.js';
import type { TestServer } from './server.js';
import { until } from './worker.js';

let serial = 0;

/** Registers a worker under a name and instance of its own; `body` overrides the defaults. */
export function registerWorker(ts: Pick<TestServer, 'client'>, body: Partial<RegisterWorkerBody> = {}): Promise<Worker> {
  return ts.client.registerWorker({
    name: `w${++serial}-${process.pid}`, instance: randomUUID(), hostname: 'test-host', cpus: 4, memory_mb: 4096, docker: false, concurrency: 50,
    ...body,
  });
}

/** One poll round: answers at once unless the body asks to wait. */
export function pollWorker(
  ts: Pick<TestServer, 'client'>, worker: Pick<Worker, 'id' | 'instance'>, body: Partial<PollBody> = {}, signal?: AbortSignal,
): Promise<PollResponse> {
  return ts.client.pollWorker(worker.id, { instance: worker.instance!, want: 0, holding: [], wait_seconds: 0, ...body }, signal);
}

/** When the server last heard from the worker: every poll round moves it. */
export async function lastSeen(ts: Pick<TestServer, 'server'>, workerId: number): Promise<string> {
  return String(await ts.server.pool.oneFirst(sql.unsafe`SELECT last_seen_at::text FROM worker_liveness WHERE worker_id = ${workerId}`));
}

/**
 * Starts a long poll and waits until its first round has committed (the worker's liveness
 * moved): from then on it is parked, unless that round had something to answer.
 */
export async function parkedPoll(ts: Pick<TestServer, 'client' | 'server'>, worker: Pick<Worker, 'id' | 'instance'>, body: Partial<PollBody>, signal?: AbortSignal) {
  const before = await lastSeen(ts, worker.id);
  let settled = false;
  const response = pollWorker(ts, worker, { wait_seconds: 60, ...body }, signal);
  void response.then(() => (settled = true), () => (settled = true));
  await until('the poll to run its first round', async () => (await lastSeen(ts, worker.id)) !== before);
  return { response, settled: () => settled, roundsSeen: () => pollRounds(worker.id) };
}

/**
 * How many exchanges the server process serves now: what a test reads to see a poll end on
 * the server's side, which leaves nothing else to observe when its worker has hung up.
 */
export function pollsServed(ts: Pick<TestServer, 'server'>): number {
  return ts.server.polls.size;
}
