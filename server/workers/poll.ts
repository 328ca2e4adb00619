// The worker's exchange with the server, the one request a worker daemon makes once
// registered. One round, in one transaction under the worker's row lock: record the
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
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Task } from '../../shared/schemas/task.js';
import { LIVE_STATUSES } from '../../shared/schemas/execution.js';
import {
  WORKER_TAKEN_OVER, type ExecutionReports, type HostMetrics, type PollResponse, type ProgressReport, type ReportsReceipt,
} from '../../shared/schemas/worker.js';
import type { Db, Pool } from '../db/pool.js';
import { TASK_COLUMNS } from '../queries/tasks.js';
import { notFound, ProblemError } from '../errors.js';
import { WORK_CHANNEL, type ListenHub } from '../listen/hub.js';
import type { QueueSettings } from '../settings.js';
import { claimTasks, type Claimed, type ClaimingWorker } from '../commands/claimTasks.js';
import { lockExecutions } from '../commands/lockExecutions.js';
import { loseExecutions } from '../commands/loseExecutions.js';
import { recordMetrics } from '../commands/recordMetrics.js';
import { recordProgress } from '../commands/recordProgress.js';
import { recordReports } from '../commands/recordReports.js';
import { releaseDependents } from '../commands/releaseDependents.js';
import { leaseDue, renewLeases } from '../commands/renewLeases.js';
import { touchWorker } from '../commands/touchWorker.js';
import { dockerPolicy } from '../queries/policies.js';
import { acceptsWork } from '../requirements.js';
import { secretsFor } from '../queries/secrets.js';
import type { SecretBox } from '../secrets/secretBox.js';

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

export class WorkerTakenOver extends ProblemError {
  constructor(name: string) {
    super(409, WORKER_TAKEN_OVER, `another worker daemon instance registered as "${name}" since this one did: register again, or stop this daemon`);
  }
}

export class StalePoll extends ProblemError {
  constructor(seq: number, seen: number) {
    super(409, 'Stale poll', `poll ${seq} of this worker was overtaken by poll ${seen}: the worker gave up on it`);
  }
}

/** Poll rounds this process has committed, per worker: what a test reads, since a parked round writes nothing. */
const roundsRun = new Map<number, number>();
export const pollRounds = (workerId: number): number => roundsRun.get(workerId) ?? 0;

async function pollRound(
  pool: Pool, secrets: SecretBox, workerId: number, request: PollRequest, settings: QueueSettings, meta: EventMeta, signal: AbortSignal, round: number,
): Promise<PollResponse> {
  return pool.transaction(async (tx) => {
    // One read of the worker (locked: its polls serialise) with the number of its last poll,
    // and one of its live executions, serve the whole round; nothing in it changes the
    // worker's settings.
    const worker = await tx.maybeOne(sql.unsafe`
      SELECT w.id, w.name, w.instance, w.cpus, w.memory_mb, w.docker, w.gpus, w.capabilities, w.tags, w.concurrency,
             w.prefetch, w.paused, w.draining, w.deleted_at, w.status, w.version, w.settings_version, coalesce(l.poll_seq, 0) AS poll_seq
      FROM workers w LEFT JOIN worker_liveness l ON l.worker_id = w.id
      WHERE w.id = ${workerId} FOR UPDATE OF w`);
    if (!worker) throw notFound(`worker ${workerId}`);
    // Its daemon registers again on a 404, which brings the worker back.
    if (worker.deleted_at !== null) throw new ProblemError(404, 'Not found', `worker ${workerId} was deleted: register again`);
    // Another daemon registered under this name since: its holdings are not this one's to declare.
    if (worker.instance !== request.instance) throw new WorkerTakenOver(worker.name);
    // A poll the worker gave up on, served after a newer one: what it holds is out of date.
    if (request.seq !== undefined && request.seq < worker.poll_seq) throw new StalePoll(request.seq, worker.poll_seq);
    // The first round notes the worker alive and the poll's number; the rounds of a parked
    // poll write nothing (it parks for at most a third of a lease), unless the worker was
    // shown offline meanwhile.
    if (round === 0 || worker.status !== 'online') await touchWorker(tx, worker, meta, request.seq, request.leaving ? 'offline' : 'online');
    // Under the worker's lock, with its liveness: only this worker's own exchanges write its row.
    if (round === 0 && request.metrics) await recordMetrics(tx, workerId, request.metrics);
    // Its live executions, read once for the round. Only this worker's own polls (which
    // this lock serialises) make executions live for it; what may change meanwhile is
    // re-checked under the locks below (a loss by the reaper, a kill order for the next round).
    const held = new Set(request.holding);
    // With whether each lease is due for renewal: most rounds renew none and skip that statement.
    let live = await tx.any(sql.unsafe`
      SELECT x.id, x.status, x.kill_requested_at, x.kill_grace_seconds, x.suspended, coalesce(${leaseDue(settings.leaseSeconds)}, false) AS lease_due
      FROM executions x LEFT JOIN execution_leases l ON l.execution_id = x.id
      WHERE x.worker_id = ${workerId} AND x.status = ANY(${sql.array([...LIVE_STATUSES], 'text')}) ORDER BY x.id`);
    const reports = round === 0 ? request.reports : [];
    let receipts: ReportsReceipt[] = [];
    let ended: number[] = [];
    let finished: number[] = [];
    if (reports.length > 0) {
      // What it reports on and what it may lose are locked in one go, tasks before
      // executions: a second wave of task locks could meet a kill coming the other way.
      const locked = await lockExecutions(tx, [...reports.map((r) => r.execution_id), ...live.filter((x) => !held.has(x.id)).map((x) => x.id)]);
      const recorded = await recordReports(tx, reports, settings, meta, { workerId, locked });
      ({ receipts, ended, finished } = recorded);
      const reported = new Set(reports.map((r) => r.execution_id));
      live = live.flatMap((x) => (!reported.has(x.id) ? [x] : recorded.live.has(x.id) ? [{ ...x, status: recorded.live.get(x.id)! }] : []));
    }
    const liveIds = new Set(live.map((x) => x.id));
    const unheld = live.filter((x) => !held.has(x.id));
    const resent = request.seq === undefined || request.leaving ? [] : unheld.filter((x) => x.status === 'assigned').map((x) => x.id);
    const lost = unheld.map((x) => x.id).filter((id) => !resent.includes(id));
    const losses = await loseExecutions(tx, lost, 'its worker no longer holds it', settings.maxLostExecutions, meta);
    const kept = live.filter((x) => held.has(x.id) || resent.includes(x.id));
    await renewLeases(tx, kept.filter((x) => x.lease_due).map((x) => x.id), settings.leaseSeconds);
    if (round === 0) await recordProgress(tx, workerId, request.progress);
    // Waiting tasks last, after every lease: the reaper holds a lease while it releases them.
    await releaseDependents(tx, [...ended, ...losses.ended], meta);
    // What it finished in this very exchange is its own: no need to read it again.
    const endedNow = new Set(finished);
    const abandon = await notItsOwn(tx, workerId, request.holding.filter((id) => !liveIds.has(id) && !endedNow.has(id)));
    // Nothing is claimed for a worker that hung up: it would never learn of it.
    const capacity = !acceptsWork(worker) || request.leaving || signal.aborted ? 0 : Math.max(0, worker.concurrency + worker.prefetch - kept.length);
    const claimed = [
      ...(await assignedAgain(tx, resent)),
      ...(await claimTasks(tx, worker as unknown as ClaimingWorker, Math.min(request.want, capacity), settings.leaseSeconds, meta)),
    ];
    // The values of their secrets travel in this answer only (one read for the batch); the
    // policy goes with containers, for the worker to check them again.
    const values = await secretsFor(tx, secrets, claimed.map((c) => c.task));
    const assignments = claimed.map((c, i) => ({ ...c, secrets: values[i]! }));
    const policy = assignments.some((a) => a.task.container) ? { docker_policy: (await dockerPolicy(tx)).policy } : {};
    return {
      assignments,
      kill: kept.filter((x) => x.kill_requested_at !== null).map((x) => ({ execution_id: x.id, grace_seconds: x.kill_grace_seconds })),
      suspend: kept.filter((x) => x.suspended).map((x) => x.id),
      abandon,
      settings: { concurrency: worker.concurrency, prefetch: worker.prefetch, tags: worker.tags, paused: worker.paused, draining: worker.draining },
      settings_version: worker.settings_version,
      lease_seconds: settings.leaseSeconds,
      output_cap_bytes: settings.outputCapBytes,
      reports: receipts,
      ...policy,
    };
  });
}

/**
 * Of the executions a worker holds that are no longer live, those it must abandon: lost,
 * cancelled before they started, another worker's, or unknown. One it ended itself has had its result recorded (in this
 * exchange or an earlier one whose receipt it has not processed yet): nothing to stop.
 */
async function notItsOwn(tx: Db, workerId: number, executionIds: number[]): Promise<number[]> {
  if (executionIds.length === 0) return [];
  const ended = new Set((await tx.anyFirst(sql.unsafe`
    SELECT id FROM executions
    WHERE id = ANY(${sql.array(executionIds, 'int8')}) AND worker_id = ${workerId} AND status NOT IN ('lost', 'cancelled')`)) as number[]);
  return executionIds.filter((id) => !ended.has(id));
}

/** The assignments of these executions, as the claim that made them answered. */
async function assignedAgain(tx: Db, executionIds: number[]): Promise<Claimed[]> {
  if (executionIds.length === 0) return [];
  const tasks = (await tx.any(sql.unsafe`
    SELECT ${TASK_COLUMNS} FROM tasks WHERE execution_id = ANY(${sql.array(executionIds, 'int8')}) ORDER BY id`)) as unknown as Task[];
  return tasks.map((task) => ({ execution_id: task.execution_id!, attempt: task.attempts, task }));
}

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
  pool: Pool, hub: ListenHub, secrets: SecretBox, workerId: number, request: PollRequest, settings: QueueSettings, meta: EventMeta, signal: AbortSignal,
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
      const response = await pollRound(pool, secrets, workerId, request, settings, meta, signal, round);
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
