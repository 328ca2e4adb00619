// The worker daemon: registers under its name, re-attaches to containers an earlier run
// of it left running, then exchanges with the server, one request at a time: each carries
// the reports waiting for any of its executions and what it holds and can take, and gets
// back work, kill and suspend orders and settings; with nothing to say, the request parks (long poll)
// until there is news on either side. It keeps running its tasks while the server is
// unreachable (reports wait in the spool, exchanges retry with backoff) and holds each
// execution in its exchanges until all its reports have been delivered, so the server
// never takes a task back from a worker that still has something to say about it. Its
// exchanges also carry its host's figures (hostMetrics.ts) when it has a new measure. A
// worker drained by an operator takes nothing more and, once everything it ran has ended
// and been reported, says it leaves in a last exchange and stops.
// Beside it: earlierRun.ts (what an earlier run left), dockerEngine.ts, capacity.ts (what
// its exchanges declare it holds and takes), unreachable.ts (waiting on a silent server).
import { realpath } from 'node:fs/promises';
import { hostname, cpus as cpuList, totalmem } from 'node:os';
import { join } from 'node:path';
import { LabqApiError, LabqClient } from '../shared/client.js';
import { nodeTransport } from './httpTransport.js';
import { VERSION } from '../shared/version.js';
import { PROGRESS_INTERVAL_MS } from '../shared/schemas/execution.js';
import type { Task } from '../shared/schemas/task.js';
import { WORKER_TAKEN_OVER, type PollResponse, type WorkerSettings } from '../shared/schemas/worker.js';
import { Outbox } from './outbox.js';
import { ProgressBoard } from './progress.js';
import { ResourceCache } from './resourceCache.js';
import { Execution, type ExecutionContext } from './execution.js';
import { NO_GRANT } from './grant.js';
import { detectDocker } from './dockerEngine.js';
import { takeUpEarlierRun } from './earlierRun.js';
import { HostMeter } from './hostMetrics.js';
import { holdStateDir, instanceIdentity } from './identity.js';
import type { DockerRunner } from './runners/docker.js';
import { ShellRunner } from './runners/shell.js';
import type { Runner } from './runners/types.js';
import { Exchanges, GIVEN_UP } from './exchanges.js';
import { Slots } from './slots.js';
import { Spool, type Report } from './spool.js';
import { StateStore } from './state.js';
import { WorkFolders } from './workFolders.js';
import { holding, unfinished, wanted } from './capacity.js';
import { backoff, sleep, whileUnreachable } from './unreachable.js';

export interface WorkerOptions {
  server: string;
  token: string;
  name?: string;
  concurrency?: number;
  prefetch?: number;
  tags?: string[];
  stateDir: string;
  /** 'auto' uses Docker when an engine answers. */
  docker?: 'auto' | 'on' | 'off';
  exitWhenEmpty?: boolean;
  pollWaitSeconds?: number;
  capabilities?: string[];
  gpus?: number;
  /** Files in transfer at once across all executions (downloads and uploads); 8 unless given. */
  transfers?: number;
  /** The bound on the resource cache, in bytes; none when absent. */
  cacheSize?: number;
  /** How long one look at a cached resource's remote holds, in seconds (DEFAULT_CHECK_SECONDS). */
  cacheCheckSeconds?: number;
  log?: (line: string) => void;
}

export const DEFAULT_TRANSFERS = 8;

/** Report bytes one exchange carries at most; what is left goes in the next one. */
const EXCHANGE_REPORT_BYTES = 16 * 1024 * 1024;
/**
 * How long a worker whose slots are all busy waits for reports before it parks an exchange
 * without them: a short task's result then travels with the next exchange, instead of
 * giving up on one that just parked. Also the most a worker with free slots waits, after an
 * exchange that brought tasks, for them to begin (`starting`).
 */
const BUSY_TICK_MS = 25;

export class WorkerDaemon {
  readonly name: string;
  id = 0;
  /** This daemon instance's identity, kept in its state directory. */
  instance = '';
  private releaseStateDir: (() => Promise<void>) | null = null;
  /** Polls since the last registration: a poll given up on and served late is then refused, not believed. */
  private pollSeq = 0;
  private readonly client: LabqClient;
  private readonly executions = new Map<number, Execution>();
  private readonly stopping = new AbortController();
  private settings: WorkerSettings;
  private settingsVersion = 0;
  private spool!: Spool;
  private slots: Slots;
  private readonly transfers: Slots;
  private readonly state: StateStore;
  /**
   * Where executions' folders are: the state directory's real path, whatever spelling it was
   * given (bare tasks see these paths, and a later run finds their orphans by them).
   */
  private workDir = '';
  private folders!: WorkFolders;
  private readonly resources: ResourceCache;
  private readonly shell = new ShellRunner({ onFallBack: (why) => this.log(`${why}; bare tasks are started by the worker itself from now on`) });
  private readonly cpus = cpuList().length;
  private docker: DockerRunner | null = null;
  private readonly log: (line: string) => void;
  private loop: Promise<void> | null = null;
  /** Gives up on an exchange that may be parked without reports, when reports come. */
  private parked: AbortController | null = null;
  /** Gives up on an exchange that could take no work, when a slot frees. */
  private slotFreed: AbortController | null = null;
  /** --exit-when-empty found nothing left: the next exchange is the last. */
  private emptied = false;
  private readonly outbox = new Outbox(() => this.parked?.abort());
  private readonly exchanges = new Exchanges();
  /** The figures of transfers under way: they ride on the exchanges, never cause one. */
  private readonly progress = new ProgressBoard();
  /** The host's figures, measured at most every few seconds for the exchanges to carry. */
  private readonly meter = new HostMeter();
  /** The server's lease, from its last poll answer; it bounds how long a request may hang. */
  private leaseSeconds = 30;
  /** Told by the server at every exchange; none until the first. */
  private outputCapBytes = Infinity;

  constructor(private readonly options: WorkerOptions) {
    this.name = options.name ?? hostname();
    this.client = new LabqClient({ server: options.server, token: options.token, transport: nodeTransport });
    this.settings = {
      concurrency: options.concurrency ?? 1,
      prefetch: options.prefetch ?? 0,
      tags: options.tags?.length ? options.tags : ['default'],
      paused: false,
      draining: false,
    };
    this.slots = new Slots(this.settings.concurrency);
    this.transfers = new Slots(options.transfers ?? DEFAULT_TRANSFERS);
    this.state = new StateStore(join(options.stateDir, 'executions'));
    this.log = options.log ?? ((line) => process.stderr.write(`labq worker ${this.name}: ${line}\n`));
    this.resources = new ResourceCache({
      dir: join(options.stateDir, 'cache'), maxBytes: options.cacheSize, checkSeconds: options.cacheCheckSeconds, log: this.log,
    });
  }

  async start(): Promise<void> {
    this.releaseStateDir = await holdStateDir(this.options.stateDir);
    try {
      await this.startHolding();
    } catch (error) {
      await this.releaseStateDir();
      throw error;
    }
  }

  private async startHolding(): Promise<void> {
    this.instance = await instanceIdentity(this.options.stateDir);
    this.workDir = join(await realpath(this.options.stateDir), 'work');
    this.folders = new WorkFolders(this.workDir);
    this.spool = new Spool(join(this.options.stateDir, 'spool'), (id, reports) => this.deliver(id, reports), {
      onError: (error) => this.log(`delivery failed, will retry: ${(error as Error).message}`),
    });
    await this.spool.open();
    await this.resources.open();
    this.docker = await detectDocker(this.options.docker ?? 'auto', this.name, this.log);
    const noLauncher = await this.shell.noLauncher;
    if (noLauncher) this.log(`no task launcher (${noLauncher}): bare tasks are started by the worker itself`);
    this.folders.open();
    await this.register();
    await this.reattach();
    // Only now is it known which older cache entries the re-attached containers still use.
    this.resources.tidy();
    // A loop that ends in an error (another instance took the name) is reported by finished().
    // An exchange left to its answer has none to give once the loop is over: it would keep the process.
    const loop = this.pollLoop().finally(() => this.exchanges.cutShort());
    loop.catch((error) => this.log(`stopped: ${(error as Error).message}`));
    this.loop = loop;
  }

  /** Resolves when the poll loop ends: stop() was called, or --exit-when-empty found nothing left; rejects if it failed. */
  async finished(): Promise<void> {
    await this.loop;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    try {
      await this.loop?.catch(() => undefined);
      await this.spool.close();
      await this.folders.close();
    } finally {
      this.outbox.fail('all', new Error('the worker is stopping'));
      await this.releaseStateDir?.();
      this.releaseStateDir = null;
    }
  }

  private context(): ExecutionContext {
    return {
      spool: this.spool,
      progress: this.progress,
      slots: this.slots,
      state: this.state,
      workDir: this.workDir,
      folders: this.folders,
      resources: this.resources,
      transfers: this.transfers,
      cpus: this.cpus,
      outputCapBytes: () => this.outputCapBytes,
      runnerFor: (task: Task): Runner => (task.container ? this.docker! : this.shell),
      freed: () => this.slotFreed?.abort(),
      log: this.log,
    };
  }

  private async register(): Promise<void> {
    for (let attempt = 0; !this.stopping.signal.aborted; attempt++) {
      try {
        const worker = await this.client.registerWorker({
          name: this.name, instance: this.instance, hostname: hostname(), cpus: this.cpus, memory_mb: Math.floor(totalmem() / 2 ** 20),
          docker: this.docker !== null, gpus: this.options.gpus ?? 0, capabilities: this.options.capabilities ?? [],
          tags: this.settings.tags, concurrency: this.settings.concurrency, prefetch: this.settings.prefetch, agent_version: VERSION,
        });
        this.id = worker.id;
        this.pollSeq = 0;
        this.applySettings(worker, worker.settings_version);
        this.log(`registered as worker ${worker.id} on ${this.options.server}`);
        return;
      } catch (error) {
        if (error instanceof LabqApiError && error.status < 500) throw error;
        this.log(`cannot register yet (${(error as Error).message}); retrying`);
        await sleep(backoff(attempt), this.stopping.signal);
      }
    }
  }

  /** What an earlier run of this worker left (earlierRun.ts): its containers are followed to their end. */
  private async reattach(): Promise<void> {
    const containers = await takeUpEarlierRun({
      workDir: this.workDir, state: this.state, folders: this.folders, spool: this.spool, docker: this.docker, log: this.log,
      storedOutput: (executionId) => whileUnreachable(() => this.client.executionOutputSize(executionId), this.stopping.signal),
    });
    for (const { state, attach } of containers) {
      this.track(new Execution(this.context(), state.executionId, state.attempt, state.task, NO_GRANT, { state, attach }));
      this.log(`re-attaching to the container of execution ${state.executionId}`);
    }
  }

  private track(execution: Execution): Execution {
    this.executions.set(execution.executionId, execution);
    void execution.done.finally(() => {
      this.executions.delete(execution.executionId);
      // A draining worker's last execution gone: its leaving exchange need not wait for a parked one.
      if (this.drained()) this.slotFreed?.abort();
    });
    return execution;
  }

  private applySettings(settings: WorkerSettings, version: number): void {
    if (version !== this.settingsVersion && this.settingsVersion !== 0) this.log(`settings now ${JSON.stringify(settings)}`);
    this.settings = settings;
    this.settingsVersion = version;
    this.slots.resize(settings.concurrency);
  }

  /** The spool's delivery of one execution's reports: carried by the next exchange. */
  private async deliver(executionId: number, reports: Report[]): Promise<void> {
    const receipt = await this.outbox.deliver(executionId, reports);
    if (receipt.recorded) return;
    // The server no longer counts this execution as ours: its decision stands.
    this.log(`execution ${executionId}: ${receipt.detail}`);
    this.executions.get(executionId)?.abandon();
    // Not awaited: this runs inside the spool's own delivery of that execution.
    void this.spool.drop(executionId).catch(() => undefined);
  }

  /** Draining, or (--exit-when-empty) found nothing left, with nothing left to run or to say: the next exchange is its last. */
  private drained(): boolean {
    return (this.settings.draining || this.emptied) && this.executions.size === 0 && this.spool.pending() === 0 && this.outbox.size === 0;
  }

  /** Resolves when reports come or a slot frees, or `until` settles, or after `ms`. */
  private async news(ms: number, until?: Promise<unknown>): Promise<void> {
    const news = new AbortController();
    this.parked = this.slotFreed = news;
    const waited = sleep(ms, AbortSignal.any([news.signal, this.stopping.signal]));
    await (until ? Promise.race([until, waited]) : waited);
    this.parked = this.slotFreed = null;
    // Ends the wait's timer when `until` came first.
    news.abort();
  }

  private async pollLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      let want = wanted(this.settings, this.executions);
      if (want === 0 && this.outbox.size === 0 && this.executions.size > 0) {
        await this.news(BUSY_TICK_MS);
        want = wanted(this.settings, this.executions);
      }
      const carried = this.outbox.take(EXCHANGE_REPORT_BYTES);
      const leaving = this.drained();
      // An exchange that carries reports is answered at once. One that does not may park: it
      // is given up on when reports come, or when a slot frees and it could not take work.
      const news = new AbortController();
      this.parked = carried.length > 0 ? null : news;
      this.slotFreed = want === 0 && carried.length === 0 ? news : null;
      const progress = this.progress.take();
      const metrics = this.meter.take(unfinished(this.executions));
      // While a transfer moves, an exchange parks for at most the progress interval, so that
      // its figures go out about once a second even when nothing else happens.
      const waitSeconds = leaving || (this.options.exitWhenEmpty && this.executions.size === 0)
        ? 0
        : Math.min(this.options.pollWaitSeconds ?? 20, this.progress.moving() ? PROGRESS_INTERVAL_MS / 1000 : Infinity);
      // The server parks an exchange for at most a third of the lease. One unanswered for half
      // a lease is on a connection that went dark (which never errors by itself): retry on a
      // new one while the leases it renews are still valid.
      const unansweredMs = Math.ceil(Math.max(Math.min(waitSeconds, this.leaseSeconds / 3) + 1, this.leaseSeconds / 2) * 1000);
      let response: PollResponse;
      try {
        const seq = ++this.pollSeq;
        const answer = await this.exchanges.send(seq, (signal, gaveUp) => this.client.pollWorker(this.id, {
          instance: this.instance,
          seq,
          ...(gaveUp !== undefined && { gave_up: gaveUp }),
          holding: holding(this.executions, this.spool.undelivered()),
          kill_orders: [...this.executions.values()].flatMap((e) => e.killOrder ?? []),
          suspended: [...this.executions.values()].filter((e) => e.suspended).map((e) => e.executionId),
          want,
          settings_version: this.settingsVersion,
          wait_seconds: waitSeconds,
          reports: carried.map((entry) => entry.reports),
          progress,
          ...(metrics && { metrics }),
          ...(leaving && { leaving }),
        }, signal), unansweredMs, this.stopping.signal, news.signal);
        // Given up on, it carried no reports: only its figures go again.
        if (answer === GIVEN_UP) {
          this.progress.unsent(progress);
          continue;
        }
        response = answer;
        failures = 0;
        this.leaseSeconds = response.lease_seconds;
        this.outputCapBytes = response.output_cap_bytes ?? Infinity;
      } catch (error) {
        this.outbox.fail(carried, error);
        this.progress.unsent(progress);
        if (this.stopping.signal.aborted) break;
        // Everything was reported before: a server that cannot take the goodbye only shows the worker lost later.
        if (leaving && this.emptied) {
          this.log(`could not say it is leaving (${(error as Error).message}); exiting`);
          break;
        }
        if (error instanceof LabqApiError && (error.status === 404 || error.problem.title === WORKER_TAKEN_OVER)) {
          // Registering again is refused while another live instance holds the name, which ends this daemon.
          this.log(`${error.status === 404 ? 'the server does not know this worker any more' : error.problem.detail}; registering again`);
          // Its polls are numbered from 1 again: one left to its answer, numbered higher, would
          // pass for the newest there and declare lost what was assigned since.
          this.exchanges.cutShort();
          await this.register();
          continue;
        }
        // A token revoked (or refused its worker) stays so: retrying would only fill the log.
        if (error instanceof LabqApiError && (error.status === 401 || error.status === 403)) {
          throw new Error(`the server refuses this worker's token (${error.message}): start the worker again with a live token (--token or LABQ_TOKEN)`);
        }
        this.log(`exchange failed (${(error as Error).message}); retrying`);
        await sleep(backoff(failures++), this.stopping.signal);
        continue;
      } finally {
        this.parked = this.slotFreed = null;
      }
      for (const id of this.outbox.settle(carried, response.reports)) {
        const execution = this.executions.get(id);
        if (execution) execution.resultRecorded = true;
      }
      if (leaving) {
        if (!this.emptied) this.log('drained: every execution has ended and been reported; leaving');
        break;
      }
      this.applySettings(response.settings, response.settings_version);
      for (const id of response.abandon) this.executions.get(id)?.abandon();
      for (const order of response.kill) this.executions.get(order.execution_id)?.kill(order.grace_seconds);
      const dockerPolicy = response.docker_policy ?? null;
      const assigned = response.assignments.map((a) =>
        this.track(new Execution(this.context(), a.execution_id, a.attempt, a.task, { secrets: a.secrets ?? {}, dockerPolicy })));
      // A desired state: what is not listed (any more) goes on.
      const suspend = new Set(response.suspend);
      for (const execution of this.executions.values()) execution.setSuspended(suspend.has(execution.executionId));
      if (this.options.exitWhenEmpty && response.assignments.length === 0 && this.executions.size === 0 && want > 0) {
        // What is left to say goes out through the exchanges, which only this loop makes.
        // It leaves as a drained daemon does (shown offline at once), in an exchange that claims nothing.
        if (this.spool.pending() === 0 && this.outbox.size === 0) {
          this.log('nothing left to do: exiting');
          this.emptied = true;
          continue;
        }
        if (this.outbox.size === 0) await sleep(50, this.stopping.signal);
      }
      if (assigned.length > 0) await this.starting(assigned);
    }
  }

  /**
   * Work came, and nothing waits to be said: the next exchange waits until the new tasks have
   * begun, for at most BUSY_TICK_MS, or until reports come or a slot frees. Sent at once, that
   * exchange, the server's round for it and PostgreSQL took the two cores of the benchmark's
   * machine while the tasks were being started, the very moments a dispatch waits on
   * (docs/performance.md). A task claimed ahead of a free slot (prefetch) counts as begun once
   * it waits for one. A worker with no slot left waits for reports at the top of the loop anyway.
   */
  private async starting(assigned: Execution[]): Promise<void> {
    if (this.outbox.size > 0 || wanted(this.settings, this.executions) === 0) return;
    await this.news(BUSY_TICK_MS, Promise.all(assigned.map((execution) => execution.begun)));
  }
}
