// The worker's exchange with the server, the one request a worker daemon makes once
// registered. One round, in a transaction under the worker's row lock (shared with the
// rounds of other workers that arrive meanwhile: exchangeRounds.ts): record the
// reports it carries for any of its executions (phases, output, results), note it alive,
// lose what it no longer holds, renew the due leases of what it holds, keep the transfer
// figures and host metrics it sends (not a reason to answer at once: they ride on its exchanges), release the
// dependents of tasks that ended (last: waiting tasks after leases), collect kill orders
// and the executions to hold suspended, and claim tasks up to its free capacity (concurrency + prefetch minus its live
// executions), the assignments carrying the values of their tasks' secrets. An exchange that carried reports is answered at once with their receipts.
// Otherwise, when there is nothing to say, it parks and runs another round (without the
// reports: they are recorded) only when wakeups.ts wakes it for a change it could act on
// (labq_work: tasks of its tags became pending and its free slots are among those that
// cover them, or something for this very worker), until its wait expires, or until a newer
// exchange of its worker comes (the worker gave up on it without hanging up: worker/exchanges.ts). A daemon that leaves (it drained) says so in its last
// exchange: it is claimed nothing, answered at once, and shown offline at once.
import type { EventMeta } from '../../shared/events.js';
import type { ExecutionReports, HostMetrics, KillOrder, PollResponse, ProgressReport } from '../../shared/schemas/worker.js';
import type { QueueSettings } from '../settings.js';
import type { ExchangeRounds } from './exchangeRounds.js';
import type { ParkedPolls } from './wakeups.js';

export interface PollRequest {
  instance: string;
  seq?: number;
  /** The number of an exchange the worker gave up on without hanging up, since its last answer. */
  gave_up?: number;
  holding: number[];
  want: number;
  settings_version: number;
  wait_seconds: number;
  kill_orders: KillOrder[];
  killing: number[];
  suspended: number[];
  reports: ExecutionReports[];
  progress: ProgressReport[];
  metrics?: HostMetrics;
  leaving?: boolean;
}

/** Poll rounds this process has committed, per worker: what a test reads, since a parked round writes nothing. */
const roundsRun = new Map<number, number>();
export const pollRounds = (workerId: number): number => roundsRun.get(workerId) ?? 0;

/**
 * A kill order is news unless the worker carries it out with the grace it holds: one asked for
 * again with another grace is (a sooner KILL). A worker older than `kill_orders` names only
 * the executions it kills: those orders are taken as known.
 */
function orderIsNews(order: KillOrder, request: PollRequest): boolean {
  const told = request.kill_orders.find((k) => k.execution_id === order.execution_id);
  return told ? told.grace_seconds !== order.grace_seconds : !request.killing.includes(order.execution_id);
}

/** Kill orders the worker already carries out, and the suspensions it holds, do not end a parked poll: only news does. */
const worthAnswering = (r: PollResponse, request: PollRequest) =>
  r.reports.length > 0 || r.assignments.length > 0 || r.abandon.length > 0 || r.settings_version !== request.settings_version ||
  r.kill.some((k) => orderIsNews(k, request)) ||
  r.suspend.length !== request.suspended.length || r.suspend.some((id) => !request.suspended.includes(id));

export async function poll(
  rounds: ExchangeRounds, polls: ParkedPolls, workerId: number, request: PollRequest, settings: QueueSettings, meta: EventMeta, signal: AbortSignal,
): Promise<PollResponse> {
  const deadline = Date.now() + Math.min(request.wait_seconds * 1000, (settings.leaseSeconds * 1000) / 3);
  let emptyAnswer: PollResponse | undefined;
  // Only an exchange before this one can have been given up on for it.
  const gaveUp = request.seq !== undefined && request.gave_up !== undefined && request.gave_up < request.seq ? request.gave_up : undefined;
  const waiter = polls.enter(workerId, request.want, request.seq, gaveUp);
  const onAbort = () => waiter.giveUp();
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort);
  try {
    for (let round = 0; ; round++) {
      // A worker that hung up, or gave up on this exchange for a newer one, would never
      // receive what a further round claims for it.
      if (round > 0 && waiter.givenUp) return emptyAnswer!;
      const due = polls.begin(waiter);
      let response: PollResponse;
      try {
        response = await rounds.serve({ workerId, request, meta, unwanted: () => waiter.givenUp, first: round === 0 });
      } catch (error) {
        polls.served(waiter, due, null);
        throw error;
      }
      roundsRun.set(workerId, pollRounds(workerId) + 1);
      polls.served(waiter, due, response);
      if (request.leaving || worthAnswering(response, request) || Date.now() >= deadline || waiter.givenUp) return response;
      emptyAnswer = response;
      await waiter.park(deadline);
    }
  } finally {
    polls.leave(waiter);
    signal.removeEventListener('abort', onAbort);
  }
}
