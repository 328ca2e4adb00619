// Bare shell runner: runs a task as a host process, for workers without Docker or tasks that
// need the host's own tools, in a clean environment (bareEnv: never the worker's credentials).
// The task gets a session of its own, whose first process group its wrapper leads: a kill
// and a suspension reach every group of the session (what `timeout` or `set -m` in the
// task made too), and when its main process ends the rest of its group is killed, as
// Docker does when a container's main process ends. What still runs after that (a process
// that made a session of its own, or another group of the task's) is killed by the worker's
// next look for strays (workFolders.ts).
//
// The group's leader is a small /bin/sh wrapper that runs the task's interpreter and, once it
// has ended, writes the CPU time of everything the task waited for (the shell's `times`, to
// the clock tick: 10 ms) to a pipe of its own, then exits with the task's status. Processes the
// task left running when it ended, and a task killed with SIGKILL, are not counted (null).
// Peak memory is sampled from /proc (sessionMemory.ts). The kernel's OOM killer cannot be told
// apart from any other SIGKILL for a bare task, which has no memory limit of its own: such a
// task fails with exit code 137, never `oom`.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sessionGroups } from '../orphans.js';
import { followSessionMemory } from './sessionMemory.js';
import {
  bareEnv, settlesWithin, writeScript,
  type OutputStream, type RunHandle, type Runner, type RunResult, type RunSpec,
} from './types.js';

/**
 * How long output pipes may stay open after the group was killed: only a process that left
 * the group (setsid, daemonize) can still hold them, and waiting for it could take forever.
 */
const PIPE_DRAIN_MS = 2000;
const GROUP_POLL_MS = 10;

/**
 * The wrapper: `$1` is the task's interpreter, `$2` its script. A trapped TERM (unlike an
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

export class ShellRunner implements Runner {
  async start(spec: RunSpec): Promise<RunHandle> {
    if (spec.containerOptions.length > 0) {
      throw new Error(`container options (${spec.containerOptions.join(' ')}) need a container image`);
    }
    const script = writeScript(spec.dirs.temp, spec.command);
    const env = bareEnv(spec);
    if (!findProgram(spec.shell, env.PATH, spec.dirs.temp)) throw new Error(`cannot start ${spec.shell}: not found`);
    const child = spawn('/bin/sh', ['-c', WRAPPER, 'labq-task', spec.shell, script], {
      cwd: spec.dirs.temp,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    // Listeners go on before the first tick so no early output is missed.
    const handle = new ShellHandle(child, spec.onOutput);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`cannot start ${spec.shell}: ${err.message}`)));
    });
    return handle;
  }
}

class ShellHandle implements RunHandle {
  readonly ref: string;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly done: Promise<RunResult>;
  private hasExited = false;
  private lastSignal: NodeJS.Signals | null = null;
  private times = '';
  private readonly stopSampling: () => number | null;
  private stopped = false;

  constructor(private readonly child: ChildProcess, onOutput: (stream: OutputStream, chunk: Buffer) => void) {
    this.ref = String(child.pid ?? '');
    child.stdout!.on('data', (chunk: Buffer) => onOutput('stdout', chunk));
    child.stderr!.on('data', (chunk: Buffer) => onOutput('stderr', chunk));
    const timesPipe = child.stdio[3] as NodeJS.ReadableStream;
    timesPipe.on('data', (chunk: Buffer) => (this.times += chunk.toString()));
    timesPipe.on('error', () => undefined);
    this.stopSampling = child.pid === undefined ? () => null : followSessionMemory(child.pid);
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.done = this.finish(closed);
  }

  wait(): Promise<RunResult> {
    return this.done;
  }

  async kill(graceMs: number): Promise<void> {
    if (!this.hasExited) {
      this.signalGroup('SIGTERM');
      // Pending while the group is stopped: CONT delivers it.
      await this.resume();
      if (!(await settlesWithin(this.exited, graceMs))) this.signalGroup('SIGKILL');
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

  private async finish(closed: Promise<void>): Promise<RunResult> {
    let { code, signal } = await this.exited;
    this.hasExited = true;
    const peakMemoryBytes = this.stopSampling();
    this.signalGroup('SIGKILL', false);
    let error: string | null = null;
    if (!(await settlesWithin(closed, PIPE_DRAIN_MS))) {
      this.child.stdout!.destroy();
      this.child.stderr!.destroy();
      (this.child.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy();
      error = 'a process that left the task\'s process group kept its output open; output after the task ended was dropped';
    }
    // SIGKILL is delivered asynchronously; the task is over only when no member is left.
    const deadline = Date.now() + PIPE_DRAIN_MS;
    while (this.groupExists() && Date.now() < deadline) await sleep(GROUP_POLL_MS);
    // The wrapper exits with 128+N when the task died of signal N; when labq sent it, say so as a process would.
    if (code !== null && this.lastSignal && code === 128 + osConstants.signals[this.lastSignal]) {
      signal = this.lastSignal;
      code = null;
    }
    return { exitCode: code, signal, peakMemoryBytes, cpuSeconds: childrenCpuSeconds(this.times), oomKilled: false, error };
  }

  private groupExists(): boolean {
    try {
      process.kill(-this.child.pid!, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  }

  /**
   * To every group of the task's session (one look through /proc: kills and suspensions are
   * rare), or, with `wholeSession` false, to the wrapper's group alone, as at every task's
   * end, where the look for strays that follows takes care of the rest.
   */
  private signalGroup(signal: NodeJS.Signals, wholeSession = true): void {
    if (this.child.pid === undefined) return;
    // STOP and CONT end nothing: the signal the task may die of is the one sent before.
    if (!this.hasExited && signal !== 'SIGSTOP' && signal !== 'SIGCONT') this.lastSignal = signal;
    for (const group of wholeSession ? sessionGroups(this.child.pid) : [this.child.pid]) {
      try {
        process.kill(-group, signal);
      } catch (err) {
        // Gone, or only processes this worker may not signal are left (a task's `sudo`).
        if (!['ESRCH', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    }
  }
}
