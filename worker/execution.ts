// One execution on a worker, from assignment to result: download inputs and resources,
// wait for a run slot, run (Docker or bare shell), upload the output folder, report. Every
// phase is reported as it starts and the result once, all through the spool, so nothing
// is lost while the server is unreachable. Timeouts per phase come from the task. Each
// failure says its class: `download` (inputs and resources, or the folders for them),
// `refused` (the runner could not start it), `timeout` (the run timeout), `oom` (killed at
// its memory limit), `exit` (a non-zero exit or a signal), `upload`, `killed` (on order).
// The server's suspend orders are a desired state: the run is suspended while they last
// (from its start, when they come before it), and its run timeout does not count that time.
// What the download phase does is fetchInputs.ts; outcomes are outcome.ts, secrets grant.ts.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Phase } from '../shared/schemas/execution.js';
import type { Task } from '../shared/schemas/task.js';
import type { KillOrder } from '../shared/schemas/worker.js';
import type { PhaseProgress, ProgressBoard } from './progress.js';
import type { Spool } from './spool.js';
import type { Slots } from './slots.js';
import type { ExecutionState, StateStore } from './state.js';
import type { ResourceCache, ResourceHandle } from './resourceCache.js';
import { upload } from './transfers.js';
import { fetchAll, mergeResources } from './fetchInputs.js';
import { ended, Killed, PhaseFailed, type Outcome } from './outcome.js';
import { resolveEnv, type Grant } from './grant.js';
import { withinDeadline } from './deadline.js';
import type { ExecutionDirs, OutputStream, RunHandle, RunResult, Runner } from './runners/types.js';
import { PausableTimer } from './pausableTimer.js';
import { makeFolders, SUBFOLDERS, type WorkFolders } from './workFolders.js';

export interface ExecutionContext {
  spool: Spool;
  /** Where the figures of its transfers go, for the exchanges to carry. */
  progress: ProgressBoard;
  slots: Slots;
  state: StateStore;
  workDir: string;
  /** The pool of bare executions' folders, under workDir. */
  folders: WorkFolders;
  resources: ResourceCache;
  /** The worker's bound on files in transfer at once, shared by its executions. */
  transfers: Slots;
  cpus: number;
  /** The output the server keeps of one execution: past it (and the chunk that passes it), output is not spooled. */
  outputCapBytes(): number;
  runnerFor(task: Task): Runner;
  /** A slot freed with no report to say so (an abandoned execution ended). */
  freed(): void;
  log(line: string): void;
}

/** Follows a re-attached container: its output to `onOutput`, the bytes the server already stored to `stored`. */
export type Attach = (onOutput: (stream: OutputStream, chunk: Buffer) => void, stored: (bytes: number) => void) => Promise<RunHandle>;

/** How long a failed kill waits before the server's standing order may start it again. */
export const KILL_RETRY_MS = 5000;

export class Execution {
  private handle: RunHandle | null = null;
  private readonly abort = new AbortController();
  private killGraceMs: number | null = null;
  /** When the KILL of the kill order under way is due (ms since the epoch). */
  private killDueAt = Infinity;
  /** The grace of the last kill order told, followed or not: what the worker says it carries out. */
  private killToldSeconds = 0;
  private abandoned = false;
  /**
   * What the server's last answer said: suspended or not; null before its first word, so
   * that a container a previous daemon paused is left as it is until the server has spoken.
   */
  private suspendWanted: boolean | null = null;
  /** A suspend or resume under way: the next one waits for it, then looks again. */
  private suspending = false;
  private runTimer: PausableTimer | null = null;
  /** Its result is in the spool: it no longer takes a slot of the worker's capacity, only a place in its reports. */
  ended = false;
  /** An exchange's receipt says the server recorded its result: the worker no longer holds it, though it is here a moment more. */
  resultRecorded = false;
  private readonly state: ExecutionState;
  /** What its transfers count, per phase: the bytes of its inputs and resources, then of its output. */
  readonly progress: { downloading: PhaseProgress; uploading: PhaseProgress };
  readonly done: Promise<void>;
  /** Resolves once its first phase has begun (its task started, or its downloads did), once it waits for a run slot, or once it ended before any of these. */
  readonly begun: Promise<void>;
  private markBegun: () => void = () => undefined;

  constructor(
    private readonly ctx: ExecutionContext,
    readonly executionId: number,
    attempt: number,
    readonly task: Task,
    private readonly grant: Grant,
    /**
     * A container of an earlier run of this worker: `attach` follows it, feeding output to
     * `onOutput`, and says how much output the server already holds (it counts to the cap).
     */
    reattach?: { state: ExecutionState; attach: Attach },
  ) {
    this.state = reattach?.state ?? { executionId, attempt, task, container: !!task.container };
    this.progress = { downloading: ctx.progress.phase(executionId, 'downloading'), uploading: ctx.progress.phase(executionId, 'uploading') };
    if (reattach) this.resourceHandles.push(...ctx.resources.adopt(reattach.state.resources ?? []));
    this.begun = new Promise((resolve) => (this.markBegun = resolve));
    this.done = (reattach ? this.resume(reattach.attach) : this.run()).catch((error) => ctx.log(`execution ${executionId}: ${(error as Error).stack ?? error}`));
    void this.done.finally(this.markBegun);
  }

  private resourceDir: string | null = null;
  /** Its folders are a set of the worker's pool (a bare task), given back when it ends. */
  private pooled = false;
  /** The cache entries this execution uses, released when it ends. */
  private readonly resourceHandles: ResourceHandle[] = [];

  private get base(): string {
    return join(this.ctx.workDir, String(this.executionId));
  }

  get dirs(): ExecutionDirs {
    const base = this.base;
    return {
      input: join(base, SUBFOLDERS.input), output: join(base, SUBFOLDERS.output), temp: join(base, SUBFOLDERS.temp),
      resource: this.resourceDir ?? join(base, SUBFOLDERS.resource),
    };
  }

  /**
   * A kill order from the server: TERM, then KILL after the grace. The server repeats its order
   * at every answer, which changes nothing; a new one with a shorter grace (a user who will not
   * wait) brings the KILL forward.
   */
  kill(graceSeconds: number): void {
    this.killToldSeconds = graceSeconds;
    const due = Date.now() + graceSeconds * 1000;
    if (this.killGraceMs !== null && due >= this.killDueAt) return;
    this.killGraceMs = graceSeconds * 1000;
    this.killDueAt = due;
    this.abort.abort(new Killed('killed on request'));
    if (this.handle) this.signalKill(this.handle);
  }

  /**
   * A kill that fails (the Docker engine refused it, say) leaves the task running: it is
   * logged, and a few seconds later the execution no longer counts as being killed, so the
   * server's standing order ends the next poll and the kill is tried again (not at once:
   * an engine that keeps failing would turn polls into a busy loop).
   */
  private signalKill(handle: RunHandle, graceMs = this.killGraceMs ?? 0, retry = true): void {
    handle.kill(graceMs).catch((error) => {
      this.ctx.log(`execution ${this.executionId}: the kill failed: ${(error as Error).message}`);
      if (retry) {
        setTimeout(() => {
          this.killGraceMs = null;
          this.killDueAt = Infinity;
        }, KILL_RETRY_MS).unref();
      }
    });
  }

  get killing(): boolean {
    return this.killGraceMs !== null;
  }

  /** The kill order it carries out, as last told: an order told since with another grace is news to the server. */
  get killOrder(): KillOrder | null {
    return this.killing ? { execution_id: this.executionId, grace_seconds: this.killToldSeconds } : null;
  }

  /**
   * The server's word at each answer: suspended or not. Applied to the run now, or as soon
   * as it starts; one that failed (the engine refused) is tried again at the next answer.
   */
  setSuspended(wanted: boolean): void {
    this.suspendWanted = wanted;
    this.applySuspension();
  }

  get suspended(): boolean {
    return this.suspendWanted === true;
  }

  /** A kill lets a suspended task go on by itself, so that it gets the TERM: nothing to do then. */
  private applySuspension(): void {
    const handle = this.handle;
    const wanted = this.suspendWanted;
    if (!handle || wanted === null || this.suspending || this.killGraceMs !== null || handle.suspended === wanted) return;
    this.suspending = true;
    (wanted ? handle.suspend() : handle.resume())
      .then(() => {
        if (wanted) this.runTimer?.pause();
        else this.runTimer?.resume();
        this.ctx.log(`execution ${this.executionId}: ${wanted ? 'suspended' : 'continued'}`);
      }, (error) => this.ctx.log(`execution ${this.executionId}: cannot ${wanted ? 'suspend' : 'continue'} it: ${(error as Error).message}`))
      .finally(() => {
        this.suspending = false;
        if (this.suspendWanted !== wanted) this.applySuspension();
      });
  }

  /** The server says this execution is no longer ours: stop it and report nothing more. */
  abandon(): void {
    this.abandoned = true;
    this.kill(0);
  }

  /** Bytes of output spooled: once past the server's cap, the rest would only be dropped there. */
  private outputBytes = 0;

  onOutput = (stream: OutputStream, chunk: Buffer): void => {
    if (this.abandoned || this.outputBytes > this.ctx.outputCapBytes()) return;
    this.outputBytes += chunk.length;
    this.ctx.spool.output(this.executionId, stream, chunk);
  };

  /** A phase starts: it is reported, and the figures of a transfer phase go out while it lasts. */
  private phase(phase: Phase): void {
    this.markBegun();
    this.endTransfers();
    if (this.abandoned) return;
    this.ctx.spool.push({ kind: 'phase', executionId: this.executionId, phase });
    if (phase === 'downloading' || phase === 'uploading') this.progress[phase].begin();
  }

  private endTransfers(): void {
    this.progress.downloading.end();
    this.progress.uploading.end();
  }

  /** Runs a phase under its timeout; `what` says what was in flight when it ran out (`download of s3://…`). */
  private withTimeout<T>(seconds: number | undefined, what: () => string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return withinDeadline(seconds, this.abort.signal, what, work);
  }

  private async run(): Promise<void> {
    const resolved = resolveEnv(this.task.env, this.grant.secrets);
    // A secret removed since the task was submitted: it would fail the same way on any worker.
    if ('missing' in resolved) return this.report(ended('refused', 'refused', resolved.missing));
    // A container is found again by this state after a restart; a bare task left running by a
    // worker killed with -9 is found by its environment (orphans.ts), with no file of its own.
    if (this.task.container) this.ctx.state.save(this.state);
    const dirs = this.dirs;
    let outcome: Outcome;
    try {
      const downloaded = await this.prepare(dirs).catch((error) => {
        throw error instanceof Killed ? error : new PhaseFailed('download', error);
      });
      // Claimed ahead (prefetch), it has done all it can until a slot frees: the exchange that
      // brought it need not wait for it to begin (the daemon's `starting`). Its downloads done,
      // it says so rather than go on showing `downloading` while it only waits.
      if (this.ctx.slots.full) {
        if (downloaded) this.phase('ready');
        else this.markBegun();
      }
      await this.ctx.slots.acquire(this.abort.signal);
      try {
        outcome = await this.execute(this.dirs, resolved.env);
      } finally {
        this.ctx.slots.release();
      }
      outcome = await this.withOutput(outcome);
    } catch (error) {
      outcome = error instanceof Killed
        ? ended('killed', 'killed', error.message)
        : error instanceof PhaseFailed
          ? ended('failed', error.failureClass, error.message)
          : ended('failed', 'exit', (error as Error).message);
    }
    await this.report(outcome);
  }

  /** The folders, inputs and resources: what the task needs before it can run. Says whether it downloaded anything. */
  private async prepare(dirs: ExecutionDirs): Promise<boolean> {
    // A bare task's folders come from the worker's pool and go back to it; a container's are its own.
    if (this.task.container) makeFolders(this.base);
    else {
      this.ctx.folders.take(this.base);
      this.pooled = true;
    }
    if (!this.task.inputs.length && !this.task.resources.length) return false;
    this.phase('downloading');
    // Inputs and resources are fetched together; the worker's transfer bound keeps it reasonable.
    const inFlight = new Set<string>();
    await this.withTimeout(this.task.timeouts.download, () => `download of ${[...inFlight].join(', ')}`, async (signal) => {
      const fetching = { transfers: this.ctx.transfers, resources: this.ctx.resources, progress: this.progress.downloading };
      const resources = await fetchAll(this.task, dirs.input, fetching, signal, inFlight, (handle) => this.resourceHandles.push(handle));
      this.resourceDir = await mergeResources(resources, this.dirs.resource);
      if (this.task.container) {
        this.state.resources = resources;
        this.ctx.state.save(this.state);
      }
    });
    return true;
  }

  private async execute(dirs: ExecutionDirs, env: Record<string, string>): Promise<Outcome> {
    // Output read while the runner starts (a fast task's first lines, read before the
    // launcher's answer) is spooled after `running`: the server never holds output of an
    // execution still `assigned`, which it would offer again to this worker restarted,
    // numbered from 0 anew. A refused start keeps what it printed, spooled before its refusal.
    const early: [OutputStream, Buffer][] = [];
    let onOutput = (stream: OutputStream, chunk: Buffer): void => void early.push([stream, chunk]);
    const release = () => {
      onOutput = this.onOutput;
      for (const [stream, chunk] of early.splice(0)) this.onOutput(stream, chunk);
    };
    let handle: RunHandle;
    try {
      handle = await this.ctx.runnerFor(this.task).start({
        executionId: this.executionId, command: this.task.command, shell: this.task.shell, container: this.task.container,
        containerOptions: this.task.container_options, dockerPolicy: this.grant.dockerPolicy, env, dirs,
        cpus: this.task.requirements.cpus ?? this.ctx.cpus, memoryMb: this.task.requirements.memory_mb,
        onOutput: (stream, chunk) => onOutput(stream, chunk),
      });
    } catch (error) {
      release();
      return ended('refused', 'refused', (error as Error).message);
    }
    // Suspended before it started: stopped at once, before anything else is done.
    this.handle = handle;
    this.applySuspension();
    this.phase('running');
    release();
    return this.await(handle);
  }

  private async await(handle: RunHandle): Promise<Outcome> {
    this.handle = handle;
    const runSeconds = this.task.timeouts.run;
    let timedOut = false;
    this.runTimer = runSeconds
      ? new PausableTimer(runSeconds * 1000, () => {
          timedOut = true;
          this.signalKill(handle, 10_000, false);
        })
      : null;
    // A re-attached container may have been paused by the daemon before this one.
    if (handle.suspended) this.runTimer?.pause();
    if (this.killGraceMs !== null) this.signalKill(handle);
    else this.applySuspension();
    let result: RunResult;
    try {
      result = await handle.wait();
    } finally {
      this.runTimer?.clear();
    }
    if (this.killGraceMs !== null) return ended('killed', 'killed', 'killed on request', result);
    if (timedOut) return ended('failed', 'timeout', `run timed out after ${runSeconds} s`, result);
    const error = result.error ?? (result.signal ? `ended by ${result.signal}` : null);
    if (result.exitCode === 0) return ended('succeeded', null, error, result);
    return ended('failed', result.oomKilled ? 'oom' : 'exit', error, result);
  }

  /** A container of an earlier run of this worker, still running or just ended: follow it to its end. */
  private async resume(attach: Attach): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.await(await attach(this.onOutput, (bytes) => (this.outputBytes = bytes)));
    } catch (error) {
      outcome = ended('failed', 'exit', `re-attaching failed: ${(error as Error).message}`);
    }
    try {
      outcome = await this.withOutput(outcome);
    } catch (error) {
      outcome = ended('killed', 'killed', (error as Error).message, outcome);
    }
    await this.report(outcome);
  }

  /**
   * Uploads the output after a run that ended, failed as well as succeeded: its logs and
   * partial results are what tells why it failed. A failed upload fails a success with class
   * `upload`, and is added to the reason of a failure, whose class stays the run's.
   */
  private async withOutput(outcome: Outcome): Promise<Outcome> {
    if (!this.task.output || (outcome.status !== 'succeeded' && outcome.status !== 'failed')) return outcome;
    try {
      await this.uploadOutput();
      return outcome;
    } catch (error) {
      if (error instanceof Killed) throw error;
      const message = (error as Error).message;
      return outcome.status === 'succeeded' ? ended('failed', 'upload', message, outcome) : { ...outcome, error: `${outcome.error ?? 'failed'}; then ${message}` };
    }
  }

  /**
   * Uploads the output folder, but only once the server has confirmed that this execution
   * is still live and ours (fencing): the `uploading` phase is delivered first, and the
   * server refuses it for an execution it has lost, which abandons this one. A worker cut
   * off past its lease thus never writes over the output of the retry that replaced it.
   * The window that remains: a lease that runs out during the upload itself.
   */
  private async uploadOutput(): Promise<void> {
    this.phase('uploading');
    await this.ctx.spool.flush(this.executionId);
    if (this.abandoned) throw new Error('not uploaded: the server no longer counts this execution as live');
    await this.withTimeout(this.task.timeouts.upload, () => `upload to ${this.task.output!}`, (signal) => upload(this.dirs.output, this.task.output!, { signal, limit: this.ctx.transfers, progress: this.progress.uploading }));
  }

  private async report(outcome: Outcome): Promise<void> {
    this.ended = true;
    this.endTransfers();
    for (const handle of this.resourceHandles.splice(0)) handle.release();
    if (!this.abandoned) {
      this.ctx.spool.push({ kind: 'finish', executionId: this.executionId, ...outcome });
      await this.ctx.spool.flush(this.executionId);
    } else {
      this.ctx.freed();
      // Abandoned: the server refuses anything more about it, so its spool files would stay forever.
      await this.ctx.spool.drop(this.executionId).catch(() => undefined);
    }
    if (this.task.container) this.ctx.state.remove(this.executionId);
    // A process its task left running (out of its group) may still use the folders: not for another execution then.
    if (this.pooled) await this.ctx.folders.give(this.base, Number(this.handle?.ref) || null);
    else await rm(this.base, { recursive: true, force: true }).catch(() => undefined);
  }
}
