// Bare shell runner: runs a task as a host process, for workers without Docker or tasks that
// need the host's own tools. The task gets its own process group, so a kill reaches everything
// it started, and when its main process ends the rest of the group is killed, as Docker does
// when a container's main process ends: a task never leaves stray processes behind.
// Peak memory is reported as null: the kernel keeps no peak for a process group, and summing
// samples of /proc would be a guess.

import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  labqEnv, settlesWithin, writeScript,
  type OutputStream, type RunHandle, type Runner, type RunResult, type RunSpec,
} from './types.js';

/**
 * How long output pipes may stay open after the group was killed: only a process that left
 * the group (setsid, daemonize) can still hold them, and waiting for it could take forever.
 */
const PIPE_DRAIN_MS = 2000;
const GROUP_POLL_MS = 10;

export class ShellRunner implements Runner {
  async start(spec: RunSpec): Promise<RunHandle> {
    if (spec.containerOptions.length > 0) {
      throw new Error(`container options (${spec.containerOptions.join(' ')}) need a container image`);
    }
    const script = writeScript(spec.dirs.temp, spec.command);
    const child = spawn(spec.shell, [script], {
      cwd: spec.dirs.temp,
      env: { ...process.env, ...spec.env, ...labqEnv(spec.dirs, spec.cpus) },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
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
  private stopped = false;

  constructor(private readonly child: ChildProcess, onOutput: (stream: OutputStream, chunk: Buffer) => void) {
    this.ref = String(child.pid ?? '');
    child.stdout!.on('data', (chunk: Buffer) => onOutput('stdout', chunk));
    child.stderr!.on('data', (chunk: Buffer) => onOutput('stderr', chunk));
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
    const { code, signal } = await this.exited;
    this.hasExited = true;
    this.signalGroup('SIGKILL');
    let error: string | null = null;
    if (!(await settlesWithin(closed, PIPE_DRAIN_MS))) {
      this.child.stdout!.destroy();
      this.child.stderr!.destroy();
      error = 'a process that left the task\'s process group kept its output open; output after the task ended was dropped';
    }
    // SIGKILL is delivered asynchronously; the task is over only when no member is left.
    const deadline = Date.now() + PIPE_DRAIN_MS;
    while (this.groupExists() && Date.now() < deadline) await sleep(GROUP_POLL_MS);
    return { exitCode: code, signal, peakMemoryBytes: null, error };
  }

  private groupExists(): boolean {
    try {
      process.kill(-this.child.pid!, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
