// Bare shell runner: runs a task as a host process, for workers without Docker or tasks that
// need the host's own tools, in a clean environment (bareEnv: never the worker's credentials).
// The task gets a session of its own, whose first process group its leader leads: a kill
// and a suspension reach every group of the session (what `timeout` or `set -m` in the
// task made too), and when its main process ends the rest of its group is killed, as
// Docker does when a container's main process ends. What still runs after that (a process
// that made a session of its own, or another group of the task's) is killed by the worker's
// next look for strays (workFolders.ts).
//
// Two ways to start it, the same for the task. Where Python 3.8 or later is found (`python3`),
// a small helper process starts the task's interpreter itself, as the session's leader, and
// counts its CPU time when it reaps it (launcher.ts): a fork of the worker costs several times
// more. Without it, the worker spawns the task, and the group's leader is a small /bin/sh
// wrapper that runs the task's interpreter and, once it has ended, writes the CPU time of
// everything the task waited for (the shell's `times`) to a pipe of its own, then exits with
// the task's status; a task killed with SIGKILL is then not counted (null). Either way the
// CPU time is to the clock tick (10 ms), and processes the task left running when it ended
// are not counted.
// Peak memory is sampled from /proc (sessionMemory.ts). The kernel's OOM killer cannot be told
// apart from any other SIGKILL for a bare task, which has no memory limit of its own: such a
// task fails with exit code 137, never `oom`.

import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupExists, sessionGroups, startedWithTemp } from '../orphans.js';
import { Launcher, LauncherEnded, NoPipes, pythonUnfit, type LaunchSpec } from './launcher.js';
import { followSessionMemory } from './sessionMemory.js';
import {
  bareEnv, endOf, settlesWithin, writeScript,
  type RunHandle, type Runner, type RunResult, type RunSpec,
} from './types.js';

/**
 * How long output pipes may stay open after the group was killed: only a process that left
 * the group (setsid, daemonize) can still hold them, and waiting for it could take forever.
 */
const PIPE_DRAIN_MS = 2000;
const GROUP_POLL_MS = 10;
/** Longer than a task spawned in the moment its helper died takes to reach its exec. */
const EXEC_WINDOW_MS = 200;

/**
 * The wrapper, without the launcher: `$1` is the task's interpreter, `$2` its script. A trapped TERM (unlike an
 * ignored one, which the task would inherit) lets the wrapper outlive a kill the task traps,
 * to report its CPU time; fd 3 is the wrapper's, closed for the task.
 */
const WRAPPER = 'trap : TERM INT HUP; "$@" 3>&-; s=$?; times >&3; exit $s';

/** Where interpreters named without a folder were found, by name and PATH: a look through PATH for each task cost more than its fork. */
const found = new Map<string, { path: string; until: number }>();
/** How long a program found is believed to be there (one removed meanwhile fails to start, and the task is refused as it would be). */
const FOUND_MS = 10_000;

/** The path the task's interpreter would be run from, or null: found now, so that a missing one refuses the task. */
function findProgram(name: string, path: string | undefined, cwd: string): string | null {
  if (name.includes('/')) return lookUp(name, path, cwd);
  const key = `${name}\u0000${path ?? ''}`;
  const known = found.get(key);
  if (known && known.until > Date.now()) return known.path;
  const program = lookUp(name, path, cwd);
  if (program === null) found.delete(key);
  else {
    if (found.size >= 100) found.clear();
    found.set(key, { path: program, until: Date.now() + FOUND_MS });
  }
  return program;
}

function lookUp(name: string, path: string | undefined, cwd: string): string | null {
  const candidates = name.includes('/') ? [resolve(cwd, name)] : (path ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // Not there, or not executable: the next one.
    }
  }
  return null;
}

/** The children's user and system times of `times` (its second line), e.g. `0m1.230000s 0m0.040000s`. */
function childrenCpuSeconds(times: string): number | null {
  const values = [...times.matchAll(/(\d+)m\s*(\d+(?:\.\d+)?)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return values.length >= 4 ? Math.round((values[2]! + values[3]!) * 1000) / 1000 : null;
}

/** A started task's process, however it was started. */
interface TaskProcess {
  pid: number;
  stdout: Readable;
  stderr: Readable;
  /** The leader's end; `error` when it is unknown. */
  /** Its code as a shell tells it (128 + N for signal N); null and `error` when it is unknown. */
  exited: Promise<{ code: number | null; error?: string }>;
  /** Every output stream ended. */
  closed: Promise<void>;
  /** Known once the leader ended and its output closed (or was dropped). */
  cpuSeconds(): number | null;
  /** Ends the output streams at once: a process that left the group holds them. */
  drop(): void;
}

export interface ShellRunnerOptions {
  /** Start tasks from the helper (default: when a `python3` that can serve is on the worker's PATH). */
  launcher?: boolean;
  /** Told why, when the helper cannot serve and the worker forks its tasks itself from then on. */
  onFallBack?: (why: string) => void;
}

export class ShellRunner implements Runner {
  private launcher: Launcher | null = null;
  private readonly onFallBack: ShellRunnerOptions['onFallBack'];
  /** Settles once it is known whether a helper serves: with why not (no `python3`, one that cannot), or null. */
  readonly noLauncher: Promise<string | null>;

  constructor(options: ShellRunnerOptions = {}) {
    this.onFallBack = options.onFallBack;
    this.noLauncher = options.launcher === false ? Promise.resolve('not asked for') : this.chooseLauncher(options.launcher === true);
    // A start awaits it; a failure is seen there.
    this.noLauncher.catch(() => undefined);
  }

  private async chooseLauncher(required: boolean): Promise<string | null> {
    const python = findProgram('python3', process.env.PATH, '/');
    const why = python ? await pythonUnfit(python) : 'python3 is not on the PATH';
    if (required && why) throw new Error(`the task launcher needs Python 3.8 or later: ${why}`);
    if (!why) this.launcher = new Launcher(python!);
    return why;
  }

  /** How tasks are started: by the helper, or forked from the worker with a wrapper shell. */
  get launches(): 'launcher' | 'wrapper' {
    return this.launcher ? 'launcher' : 'wrapper';
  }

  async start(spec: RunSpec): Promise<RunHandle> {
    if (spec.containerOptions.length > 0) {
      throw new Error(`container options (${spec.containerOptions.join(' ')}) need a container image`);
    }
    await this.noLauncher;
    const script = writeScript(spec.dirs.temp, spec.command);
    const env = bareEnv(spec);
    const program = findProgram(spec.shell, env.PATH, spec.dirs.temp);
    if (!program) throw new Error(`cannot start ${spec.shell}: not found`);
    const task = this.launcher ? await this.launched(spec, { cwd: spec.dirs.temp, program, name: spec.shell, script, env }) : await wrapped(spec, script, env);
    return new ShellHandle(task);
  }

  /**
   * A start the helper died during is refused; a task it spawned meanwhile must not run on
   * unknown to the worker. Such a task reaches its exec all the same (the helper waits for it,
   * stopped, in a vfork), so once it could have run that far, what was started with the
   * execution's TEMP is killed.
   */
  private async launched(spec: RunSpec, launch: LaunchSpec): Promise<TaskProcess> {
    try {
      return await fromLauncher(this.launcher!, launch, spec.onOutput);
    } catch (error) {
      // Where named pipes cannot be made, the worker forks its tasks itself from then on.
      if (error instanceof NoPipes) {
        this.launcher = null;
        this.onFallBack?.(error.message);
        return wrapped(spec, launch.script, launch.env);
      }
      if (error instanceof LauncherEnded) {
        await sleep(EXEC_WINDOW_MS);
        for (const pid of startedWithTemp(spec.dirs.temp)) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
      }
      throw error;
    }
  }
}

/** Started by the helper; output listeners go on before the first tick so none is missed. */
async function fromLauncher(launcher: Launcher, spec: LaunchSpec, onOutput: RunSpec['onOutput']): Promise<TaskProcess> {
  const task = await launcher.launch(spec);
  task.stdout.on('data', (chunk: Buffer) => onOutput('stdout', chunk));
  task.stderr.on('data', (chunk: Buffer) => onOutput('stderr', chunk));
  let drained = true;
  const closed = task.closed.then(() => task.release(drained));
  let cpu: number | null = null;
  return {
    pid: task.pid, stdout: task.stdout, stderr: task.stderr, closed,
    exited: task.exited.then(({ cpuSeconds, ...end }) => {
      cpu = cpuSeconds;
      return end;
    }),
    cpuSeconds: () => cpu,
    drop: () => {
      drained = false;
      task.stdout.destroy();
      task.stderr.destroy();
    },
  };
}

/** Forked from the worker, the wrapper leading; output listeners go on before the first tick so none is missed. */
async function wrapped(spec: RunSpec, script: string, env: Record<string, string>): Promise<TaskProcess> {
  const child = spawn('/bin/sh', ['-c', WRAPPER, 'labq-task', spec.shell, script], {
    cwd: spec.dirs.temp,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => spec.onOutput('stdout', chunk));
  child.stderr!.on('data', (chunk: Buffer) => spec.onOutput('stderr', chunk));
  const timesPipe = child.stdio[3] as Readable;
  let times = '';
  timesPipe.on('data', (chunk: Buffer) => (times += chunk.toString()));
  timesPipe.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code: signal ? 128 + osConstants.signals[signal] : code })));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`cannot start ${spec.shell}: ${err.message}`)));
  });
  return {
    pid: child.pid!, stdout: child.stdout!, stderr: child.stderr!, exited, closed,
    cpuSeconds: () => childrenCpuSeconds(times),
    drop: () => {
      child.stdout!.destroy();
      child.stderr!.destroy();
      timesPipe.destroy();
    },
  };
}

class ShellHandle implements RunHandle {
  readonly ref: string;
  private readonly done: Promise<RunResult>;
  private hasExited = false;
  private lastSignal: NodeJS.Signals | null = null;
  private readonly stopSampling: () => number | null;
  private stopped = false;

  constructor(private readonly task: TaskProcess) {
    this.ref = String(task.pid);
    this.stopSampling = followSessionMemory(task.pid);
    this.done = this.finish();
  }

  wait(): Promise<RunResult> {
    return this.done;
  }

  async kill(graceMs: number): Promise<void> {
    if (!this.hasExited) {
      // No grace is KILL alone (it reaches a stopped group too): a TERM first would let the
      // task's trap run after all, in the moment before the KILL.
      if (graceMs <= 0) this.signalGroup('SIGKILL');
      else {
        this.signalGroup('SIGTERM');
        // Pending while the group is stopped: CONT delivers it.
        await this.resume();
        if (!(await settlesWithin(this.task.exited, graceMs))) this.signalGroup('SIGKILL');
      }
    }
    await this.done;
  }

  get suspended(): boolean {
    return this.stopped;
  }

  /** SIGSTOP, which no process can catch or ignore, to the whole group: children stop too. */
  async suspend(): Promise<void> {
    if (this.stopped || this.hasExited) return;
    this.signalGroup('SIGSTOP');
    this.stopped = true;
  }

  async resume(): Promise<void> {
    if (!this.stopped) return;
    this.signalGroup('SIGCONT');
    this.stopped = false;
  }

  private async finish(): Promise<RunResult> {
    const { code, error: unknown } = await this.task.exited;
    let error = unknown ?? null;
    this.hasExited = true;
    const peakMemoryBytes = this.stopSampling();
    this.signalGroup('SIGKILL', false);
    if (!(await settlesWithin(this.task.closed, PIPE_DRAIN_MS))) {
      this.task.drop();
      error ??= 'a process that left the task\'s process group kept its output open; output after the task ended was dropped';
    }
    // SIGKILL is delivered asynchronously; the task is over only when no member is left.
    const deadline = Date.now() + PIPE_DRAIN_MS;
    while (groupExists(this.task.pid) && Date.now() < deadline) await sleep(GROUP_POLL_MS);
    return { ...endOf(code, this.lastSignal), peakMemoryBytes, cpuSeconds: this.task.cpuSeconds(), oomKilled: false, error };
  }

  /**
   * To every group of the task's session (one look through /proc: kills and suspensions are
   * rare), or, with `wholeSession` false, to the wrapper's group alone, as at every task's
   * end, where the look for strays that follows takes care of the rest.
   */
  private signalGroup(signal: NodeJS.Signals, wholeSession = true): void {
    // STOP and CONT end nothing: the signal the task may die of is the one sent before.
    if (!this.hasExited && signal !== 'SIGSTOP' && signal !== 'SIGCONT') this.lastSignal = signal;
    for (const group of wholeSession ? sessionGroups(this.task.pid) : [this.task.pid]) {
      try {
        process.kill(-group, signal);
      } catch (err) {
        // Gone, or only processes this worker may not signal are left (a task's `sudo`).
        if (!['ESRCH', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    }
  }
}
