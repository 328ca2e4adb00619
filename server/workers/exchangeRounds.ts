// The rounds of the workers' exchanges, served many at once: a group commit across workers.
// Each round is what poll.ts describes (record the reports, note the worker alive, lose what
// it no longer holds, renew its due leases, release dependents, claim up to its free
// capacity), and the rounds that arrive while earlier ones are being written are served
// together in one transaction, each step one set-based statement for all of them. A round
// costs about twenty statements whatever the number of its executions, and on this
// design's hot path a statement's round trip costs more than the rows it writes (the
// capacity part of bench/protocol.ts): 200 workers of 4 slots each paid those twenty per
// exchange of about four tasks. What stays per worker is what differs per worker: its
// metrics, and the rare losses and releases of dependents, whose events carry its request's
// meta; the claim is one statement per shape of worker (its tags and resources).
//
// At most IN_FLIGHT transactions run at once, so an idle server serves a lone round at once
// (with those of the same turn of the event loop) and a busy one gathers what arrives meanwhile. The workers' rows are locked first, in id
// order, then everything else in the order of every command (tasks, executions, leases,
// waiting dependents). A round refused for its own reason (unknown or deleted worker,
// another instance, a stale poll) is answered with that error and the others go on. A lock
// held elsewhere (a bulk cancel, a worker's settings) would hold every round of a batch and
// then every batch: a batch waits at most LOCK_WAIT for a lock. When it fails, for that or
// any reason, each of its rounds runs again alone, outside the IN_FLIGHT count and waiting
// as long as it takes: only the worker whose round meets the lock or the error waits or
// gets the error. A worker whose round failed alone while the others of its batch were
// served is served alone for SUSPECT_MS, so that a round that always fails does not fail
// every batch it joins; its rounds still go in its order, one at a time, each in its turn
// from the queue.
import { sql } from 'slonik';
import { z } from 'zod';
import type { EventMeta } from '../../shared/events.js';
import type { PollResponse, ReportsReceipt } from '../../shared/schemas/worker.js';
import { LIVE_STATUS_LIST } from '../db/literals.js';
import type { Db, Pool } from '../db/pool.js';
import type { QueueSettings } from '../settings.js';
import { pickTasks, recordClaims, shapeOf, type Claim, type Claimed } from '../commands/claimTasks.js';
import { lockExecutions, type LockedExecution } from '../commands/lockExecutions.js';
import { loseExecutions } from '../commands/loseExecutions.js';
import { recordMetrics } from '../commands/recordMetrics.js';
import { recordProgress } from '../commands/recordProgress.js';
import { recordReports } from '../commands/recordReports.js';
import { dependedOn, lockDependents, releaseDependents } from '../commands/releaseDependents.js';
import { leaseDue, renewLeases } from '../commands/renewLeases.js';
import { touchWorkers } from '../commands/touchWorker.js';
import { dockerPolicy } from '../queries/policies.js';
import { acceptsWork } from '../requirements.js';
import { secretsFor } from '../queries/secrets.js';
import type { SecretBox } from '../secrets/secretBox.js';
import type { PollRequest } from './poll.js';
import { refusal } from './refusals.js';
import { assignedAgain, notTheirOwn } from './roundReads.js';

/** Rounds in one transaction at most: a bound on how long the workers' row locks are held. */
const BATCH = 64;
/** Transactions at once: one being written while the next gathers (three gave smaller batches and no more completions). */
export const IN_FLIGHT = 2;
/**
 * How long a batch waits for a lock before its rounds are run alone: the lock_timeout of the
 * batches' own connections. Longer than PostgreSQL's deadlock_timeout (1 s), so that a
 * deadlock is still found, and counted, as one.
 */
export const LOCK_WAIT = '2s';
/** How long a worker whose round alone failed its batch is served alone. */
const SUSPECT_MS = 30_000;

export interface Round {
  workerId: number;
  request: PollRequest;
  meta: EventMeta;
  /** The worker hung up, or gave up on this exchange for a newer one: nothing is claimed for it, it would never learn of it. */
  unwanted(): boolean;
  /** The first round of an exchange records its reports and notes the worker alive; a parked poll's later rounds write nothing of their own. */
  first: boolean;
}

interface Queued extends Round {
  resolve(response: PollResponse): void;
  reject(error: unknown): void;
}

const WorkerRow = z.object({
  id: z.number(), name: z.string(), instance: z.string().nullable(), cpus: z.number(), memory_mb: z.number(), docker: z.boolean(),
  gpus: z.number(), capabilities: z.array(z.string()), tags: z.array(z.string()), concurrency: z.number(), prefetch: z.number(),
  paused: z.boolean(), draining: z.boolean(), deleted_at: z.string().nullable(), status: z.string(), version: z.number(),
  settings_version: z.number(), poll_seq: z.number(),
});
type WorkerRow = z.infer<typeof WorkerRow>;

const LiveRow = z.object({
  id: z.number(), worker_id: z.number(), status: z.string(), kill_requested_at: z.string().nullable(), kill_grace_seconds: z.number().nullable(),
  suspended: z.boolean(), lease_due: z.boolean(),
});
type LiveRow = z.infer<typeof LiveRow>;

/** A round under way in its transaction. */
interface Serving {
  round: Queued;
  worker: WorkerRow;
  live: LiveRow[];
  held: Set<number>;
  /** What it holds that is no longer live, less what it finished in this very exchange. */
  gone: number[];
  receipts: ReportsReceipt[];
  /** Tasks its reports or losses ended for good. */
  ended: number[];
  /** Executions whose end its reports recorded. */
  finished: number[];
  kept: LiveRow[];
  resent: number[];
  claimed: Claimed[];
}

export class ExchangeRounds {
  private queue: Queued[] = [];
  private running = 0;
  private gathering = false;
  /** Workers with a round in a transaction. */
  private readonly busy = new Set<number>();
  /** Workers served alone until then (ms since the epoch). */
  private readonly suspects = new Map<number, number>();

  /**
   * `batches`: IN_FLIGHT connections whose lock_timeout is LOCK_WAIT; `pool`: the server's,
   * for a round run alone, which waits for its locks as long as it takes.
   */
  constructor(
    private readonly batches: Pool, private readonly pool: Pool, private readonly secrets: SecretBox, private readonly settings: QueueSettings,
    private readonly log: (line: string) => void,
  ) {}

  /** Serves one round, with whatever other rounds arrive meanwhile. */
  serve(round: Round): Promise<PollResponse> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...round, resolve, reject });
      // The rounds of one turn of the event loop go together: the parked polls one
      // notification wakes come at once, and two transactions racing for the same new task
      // (their statements interleaved on this one thread) took twice as long to commit it.
      if (!this.gathering) {
        this.gathering = true;
        setImmediate(() => {
          this.gathering = false;
          this.next();
        });
      }
    });
  }

  private next(): void {
    while (this.running < IN_FLIGHT) {
      // A worker's second round (a poll it gave up on, and its next) waits until its first
      // has ended, in this transaction or another: its rounds are served in order. Two of
      // them at once would meet at its row lock, and the second, once it had the lock, would
      // still read the poll number its statement saw before the wait (only the locked row is
      // read again): a poll given up on was then served as if it were the latest.
      // A suspect's round keeps that order too, and runs alone.
      const batch: Queued[] = [];
      const rest: Queued[] = [];
      const now = Date.now();
      for (const round of this.queue) {
        const alone = this.suspect(round, now);
        if (this.busy.has(round.workerId) || (!alone && batch.length >= BATCH)) {
          rest.push(round);
          continue;
        }
        this.busy.add(round.workerId);
        if (!alone) batch.push(round);
        else void this.solo(round);
      }
      this.queue = rest;
      if (batch.length === 0) return;
      this.running++;
      void this.write(batch).finally(() => {
        this.running--;
        this.next();
      });
    }
  }

  /** Whether its worker is served alone now; a mark that ran out is dropped. */
  private suspect(round: Queued, now: number): boolean {
    const until = this.suspects.get(round.workerId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.suspects.delete(round.workerId);
    return false;
  }

  /** Its worker's next round may go. */
  private done(round: Queued): void {
    this.busy.delete(round.workerId);
  }

  private async write(batch: Queued[]): Promise<void> {
    let answers: Map<Queued, PollResponse | Error>;
    try {
      answers = await this.batches.transaction((tx) => this.rounds(tx, batch));
    } catch (error) {
      this.log(`the exchange rounds of ${batch.length} worker(s) failed together (${error instanceof Error ? error.message : String(error)}); each runs alone`);
      // A round that fails alone while others of its batch succeed is its worker's own
      // trouble: that worker is served alone for a while. When all fail (the database is
      // away), no one is. Each worker's next round waits for its own round run alone.
      void Promise.all(batch.map((round) => this.solo(round))).then((served) => {
        if (!served.some(Boolean)) return;
        batch.forEach((round, i) => {
          if (!served[i]) this.suspects.set(round.workerId, Date.now() + SUSPECT_MS);
        });
      });
      return;
    }
    for (const round of batch) this.done(round);
    answer(answers);
  }

  /** A round served alone; its worker's next round may go once it has ended. Whether it was served. */
  private solo(round: Queued): Promise<boolean> {
    return this.alone(round).finally(() => {
      this.done(round);
      this.next();
    });
  }

  /** Serves a round in a transaction of its own on the server's pool; whether it was served. */
  private async alone(round: Queued): Promise<boolean> {
    try {
      answer(await this.pool.transaction((tx) => this.rounds(tx, [round])));
      return true;
    } catch (error) {
      round.reject(error);
      return false;
    }
  }

  private async rounds(tx: Db, batch: Queued[]): Promise<Map<Queued, PollResponse | Error>> {
    const { settings } = this;
    const answers = new Map<Queued, PollResponse | Error>();
    // One read of the workers (locked: a worker's polls serialise) with the number of each
    // one's last poll, and one of their live executions, serve the whole batch; nothing in
    // it changes the workers' settings.
    const rows = await tx.any(sql.type(WorkerRow)`
      SELECT w.id, w.name, w.instance, w.cpus, w.memory_mb, w.docker, w.gpus, w.capabilities, w.tags, w.concurrency,
             w.prefetch, w.paused, w.draining, w.deleted_at, w.status, w.version, w.settings_version, coalesce(l.poll_seq, 0) AS poll_seq
      FROM workers w LEFT JOIN worker_liveness l ON l.worker_id = w.id
      WHERE w.id = ANY(${sql.array(batch.map((r) => r.workerId), 'int8')}) ORDER BY w.id FOR UPDATE OF w`);
    const workers = new Map(rows.map((w) => [w.id, w]));
    const serving: Serving[] = [];
    for (const round of batch) {
      const worker = workers.get(round.workerId);
      const refused = refusal({ workerId: round.workerId, instance: round.request.instance, seq: round.request.seq }, worker);
      if (refused) answers.set(round, refused);
      else serving.push({ round, worker: worker!, live: [], held: new Set(round.request.holding), gone: [], receipts: [], ended: [], finished: [], kept: [], resent: [], claimed: [] });
    }
    if (serving.length === 0) return answers;
    // The first round notes the worker alive and the poll's number; the rounds of a parked
    // poll write nothing (it parks for at most a third of a lease), unless the worker was
    // shown offline meanwhile.
    await touchWorkers(tx, serving.filter((s) => s.round.first || s.worker.status !== 'online').map((s) => ({
      worker: s.worker, meta: s.round.meta, seq: s.round.request.seq, status: s.round.request.leaving ? 'offline' as const : 'online' as const,
    })));
    // Under each worker's lock, with its liveness: only that worker's own exchanges write its row.
    for (const s of serving) if (s.round.first && s.round.request.metrics) await recordMetrics(tx, s.worker.id, s.round.request.metrics);
    // Their live executions, read once. Only a worker's own polls (which its lock serialises)
    // make executions live for it; what may change meanwhile is re-checked under the locks
    // below (a loss by the reaper, a kill order for the next round). With whether each lease
    // is due for renewal: most rounds renew none. The statuses are in the text (literals.ts),
    // or the plan made without them reads each worker's whole history.
    const byWorker = new Map(serving.map((s) => [s.worker.id, s]));
    const live = await tx.any(sql.type(LiveRow)`
      SELECT x.id, x.worker_id, x.status, x.kill_requested_at, x.kill_grace_seconds, x.suspended, coalesce(${leaseDue(settings.leaseSeconds)}, false) AS lease_due
      FROM executions x LEFT JOIN execution_leases l ON l.execution_id = x.id
      WHERE x.worker_id = ANY(${sql.array([...byWorker.keys()], 'int8')}) AND x.status IN (${LIVE_STATUS_LIST}) ORDER BY x.id`);
    for (const x of live) byWorker.get(x.worker_id)!.live.push(x);
    // What they report on and what they may lose are locked in one go, tasks before
    // executions: a second wave of task locks could meet a kill or a cancel coming the other way.
    const locked = await lockExecutions(tx, serving.flatMap((s) => [
      ...(s.round.first ? s.round.request.reports.map((r) => r.execution_id) : []), ...s.live.filter((x) => !s.held.has(x.id)).map((x) => x.id),
    ]));
    await this.record(tx, serving.filter((s) => s.round.first && s.round.request.reports.length > 0), locked);
    for (const s of serving) {
      const liveIds = new Set(s.live.map((x) => x.id));
      const unheld = s.live.filter((x) => !s.held.has(x.id));
      const { request } = s.round;
      // Still assigned under its lock: one lost or cancelled since the read is not offered again.
      s.resent = request.seq === undefined || request.leaving ? [] : unheld.filter((x) => x.status === 'assigned' && locked.get(x.id)?.status === 'assigned').map((x) => x.id);
      const lost = unheld.map((x) => x.id).filter((id) => !s.resent.includes(id));
      const losses = await loseExecutions(tx, lost, 'its worker no longer holds it', settings.maxLostExecutions, s.round.meta);
      s.ended.push(...losses.ended);
      s.kept = s.live.filter((x) => s.held.has(x.id) || s.resent.includes(x.id));
      const endedNow = new Set(s.finished);
      s.gone = request.holding.filter((id) => !liveIds.has(id) && !endedNow.has(id));
    }
    await renewLeases(tx, serving.flatMap((s) => s.kept.filter((x) => x.lease_due).map((x) => x.id)), settings.leaseSeconds);
    await recordProgress(tx, serving.flatMap((s) => (s.round.first ? s.round.request.progress.map((f) => ({ ...f, worker_id: s.worker.id })) : [])));
    // Waiting tasks last, after every lease: the reaper holds a lease while it releases them.
    // Those of the whole batch are locked in one wave, in id order; then each worker's
    // release finds its own locked already. Most ended tasks have none: one statement.
    const depended = await dependedOn(tx, serving.flatMap((s) => s.ended));
    if (depended.size > 0) {
      await lockDependents(tx, [...depended]);
      for (const s of serving) await releaseDependents(tx, s.ended.filter((id) => depended.has(id)), s.round.meta);
    }
    const abandon = await notTheirOwn(tx, new Map(serving.map((s) => [s.worker.id, s.gone])));
    const again = await assignedAgain(tx, serving.flatMap((s) => s.resent));
    // Workers of one shape (tags and resources) take their tasks in one statement.
    const shapes = new Map<string, Serving[]>();
    for (const s of serving) {
      const key = shapeOf(s.worker);
      if (!shapes.has(key)) shapes.set(key, []);
      shapes.get(key)!.push(s);
    }
    const claims: Claim[] = [];
    const picked = new Map<Serving, Claimed[]>();
    for (const group of shapes.values()) {
      const lists = await pickTasks(tx, group.map((s) => ({ worker: s.worker, count: Math.min(s.round.request.want, freeCapacity(s)) })), settings.leaseSeconds, claims.map((c) => c.task.id));
      group.forEach((s, i) => {
        picked.set(s, lists[i]!);
        claims.push(...lists[i]!.map((c) => ({ ...c, worker: s.worker, meta: s.round.meta })));
      });
    }
    // An assignment to offer again whose task has moved on since the live executions were read (lost meanwhile, and claimed again) is not offered.
    for (const s of serving) s.claimed = [...s.resent.flatMap((id) => again.get(id) ?? []), ...picked.get(s)!];
    await recordClaims(tx, claims, serving[0]!.round.meta);
    // The values of their secrets travel in this answer only (one read for the batch); the
    // policy goes with containers, for the worker to check them again.
    const all = serving.flatMap((s) => s.claimed);
    const values = await secretsFor(tx, this.secrets, all.map((c) => c.task));
    const policy = all.some((c) => c.task.container) ? { docker_policy: (await dockerPolicy(tx)).policy } : {};
    let i = 0;
    for (const s of serving) {
      answers.set(s.round, {
        assignments: s.claimed.map((c) => ({ ...c, secrets: values[i++]! })),
        kill: s.kept.filter((x) => x.kill_requested_at !== null).map((x) => ({ execution_id: x.id, grace_seconds: x.kill_grace_seconds! })),
        suspend: s.kept.filter((x) => x.suspended).map((x) => x.id),
        abandon: abandon.get(s.worker.id) ?? [],
        settings: { concurrency: s.worker.concurrency, prefetch: s.worker.prefetch, tags: s.worker.tags, paused: s.worker.paused, draining: s.worker.draining },
        settings_version: s.worker.settings_version,
        lease_seconds: settings.leaseSeconds,
        output_cap_bytes: settings.outputCapBytes,
        reports: s.receipts,
        ...(s.claimed.some((c) => c.task.container) ? policy : {}),
      });
    }
    return answers;
  }

  /** The reports of these rounds, recorded together (their executions locked by the caller). */
  private async record(tx: Db, reporting: Serving[], locked: Map<number, LockedExecution>): Promise<void> {
    if (reporting.length === 0) return;
    const recorded = await recordReports(
      tx, reporting.flatMap((s) => s.round.request.reports.map((r) => ({ ...r, worker_id: s.worker.id, meta: s.round.meta }))),
      this.settings, reporting[0]!.round.meta, { locked },
    );
    const finished = new Set(recorded.finished);
    const endedTasks = new Set(recorded.ended);
    let at = 0;
    for (const s of reporting) {
      const reports = s.round.request.reports;
      // One receipt per execution reported on, in the order they were sent.
      s.receipts = recorded.receipts.slice(at, at + reports.length);
      at += reports.length;
      const reported = new Set(reports.map((r) => r.execution_id));
      // Only what its own receipts recorded: another worker may have finished an execution this one reported on.
      s.finished = s.receipts.filter((r) => r.recorded && finished.has(r.execution_id)).map((r) => r.execution_id);
      s.ended = [...new Set(s.finished.map((id) => locked.get(id)!.task_id).filter((id) => endedTasks.has(id)))];
      s.live = s.live.flatMap((x) => (!reported.has(x.id) ? [x] : recorded.live.has(x.id) ? [{ ...x, status: recorded.live.get(x.id)! }] : []));
    }
  }
}

function answer(answers: Map<Queued, PollResponse | Error>): void {
  for (const [round, response] of answers) {
    if (response instanceof Error) round.reject(response);
    else round.resolve(response);
  }
}

/** How many more executions the worker may hold: none for an exchange it no longer waits for, it would never learn of what is claimed for it. */
function freeCapacity(s: Serving): number {
  const { request } = s.round;
  return !acceptsWork(s.worker) || request.leaving || s.round.unwanted() ? 0 : Math.max(0, s.worker.concurrency + s.worker.prefetch - s.kept.length);
}
