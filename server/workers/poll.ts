// The worker's exchange with the server, the one request a worker daemon makes once
// registered. One round, in a transaction under the worker's row lock (shared with the
// rounds of other workers that arrive meanwhile: exchangeRounds.ts): record the
// reports it carries for any of its executions (phases, output, results), note it alive,
// lose what it no longer holds, renew the due leases of what it holds, keep the transfer
// figures and host metrics it sends (not a reason to answer at once: they ride on its exchanges), release the
// dependents of tasks that ended (last: waiting tasks after leases), collect kill orders
// and the executions to hold suspended, and claim tasks up to its free capacity (concurrency + prefetch minus its live
// executions), the assignments carrying the values of their tasks' secrets. An exchange that carried reports is answered at once with their receipts.
// Otherwise, when there is nothing to say, it parks on the LISTEN hub and runs another
// round (without the reports: they are recorded) only when a change it could act on is
// announced (labq_work: tasks of its tags became pending, or something for this very
// worker), until its wait expires. A daemon that leaves (it drained) says so in its last
// exchange: it is claimed nothing, answered at once, and shown offline at once.
import type { EventMeta } from '../../shared/events.js';
import type { ExecutionReports, HostMetrics, PollResponse, ProgressReport } from '../../shared/schemas/worker.js';
import { WORK_CHANNEL, type ListenHub } from '../listen/hub.js';
import type { QueueSettings } from '../settings.js';
import type { ExchangeRounds } from './exchangeRounds.js';

export interface PollRequest {
  instance: string;
  seq?: number;
  holding: number[];
  want: number;
  settings_version: number;
  wait_seconds: number;
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

/** Whether a labq_work notification names something this worker could act on. */
function forWorker(tokens: ReadonlySet<string>, workerId: number, tags: string[] | null): boolean {
  if (tokens.has('*') || tokens.has(`worker:${workerId}`)) return true;
  if (tags === null || tags.includes('*')) return [...tokens].some((t) => t.startsWith('tag:'));
  return tags.some((tag) => tokens.has(`tag:${tag}`));
}

/** Kill orders the worker already carries out, and the suspensions it holds, do not end a parked poll: only news does. */
const worthAnswering = (r: PollResponse, request: PollRequest) =>
  r.reports.length > 0 || r.assignments.length > 0 || r.abandon.length > 0 || r.settings_version !== request.settings_version ||
  r.kill.some((k) => !request.killing.includes(k.execution_id)) ||
  r.suspend.length !== request.suspended.length || r.suspend.some((id) => !request.suspended.includes(id));

export async function poll(
  rounds: ExchangeRounds, hub: ListenHub, workerId: number, request: PollRequest, settings: QueueSettings, meta: EventMeta, signal: AbortSignal,
): Promise<PollResponse> {
  const deadline = Date.now() + Math.min(request.wait_seconds * 1000, (settings.leaseSeconds * 1000) / 3);
  let dirty = false;
  let emptyAnswer: PollResponse | undefined;
  let wakeUp: (() => void) | null = null;
  // Until a round has read the worker's tags, any work may be for it.
  let tags: string[] | null = null;
  const unsubscribe = hub.subscribe((channel, changed) => {
    if (channel === null || changed === null || (channel === WORK_CHANNEL && forWorker(changed, workerId, tags))) {
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
      const response = await rounds.serve({ workerId, request, meta, signal, first: round === 0 });
      roundsRun.set(workerId, pollRounds(workerId) + 1);
      tags = response.settings.tags;
      if (request.leaving || worthAnswering(response, request) || Date.now() >= deadline || signal.aborted) return response;
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
