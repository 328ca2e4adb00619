// The contract between the worker's execution loop and the two ways of running a task
// (Docker container, bare shell). The loop only ever sees these types, so a runner can be
// swapped per task and tested alone with real processes.
//
// Rules every runner follows:
// - `start` resolves once the task is running and rejects when it cannot be started at all
//   (bad option, missing image or shell): the worker reports such an execution as refused/failed.
// - The command is written to a script file in the temp dir and run as `<shell> <file>`, so
//   multi-line scripts and any interpreter (sh, bash, python3…) work the same way.
// - Output is handed to `onOutput` chunk by chunk as it arrives, stdout and stderr apart, in
//   order within each stream; nothing is dropped and nothing is buffered behind the caller's
//   back, so the caller owns batching and spooling. `onOutput` must not throw: it runs inside
//   stream events, where an exception would escape to the process.
// - Environment: the task's env (its secrets resolved), then INPUT OUTPUT TEMP RESOURCE CPU,
//   which win; nothing of the worker's own environment but what bareEnv lets through (a
//   container has its image's environment, never the worker's).
// - `wait` resolves once the task has ended, all its output has been delivered and what it
//   leaves behind (container, stray processes) is gone.
// - `kill(graceMs)` sends SIGTERM, then SIGKILL after graceMs, and resolves when it is gone;
//   a suspended task is let go on for the TERM to reach it (a stopped process would only
//   see it once continued). With no grace it sends SIGKILL alone, which ends a stopped
//   process too (a paused container is thawed first: the engine would refuse the signal).
// - `suspend()` freezes every process of the task (Docker pause, SIGSTOP to a bare task's
//   process group) and `resume()` lets them go on; each is a no-op when the task already is
//   in that state or has ended, and `suspended` says which state it is in.
//
// The few helpers both runners share live here too, so the rules above have one implementation.

import { closeSync, constants, fstatSync, ftruncateSync, openSync, rmSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { DockerPolicy } from '../../shared/dockerPolicy.js';

export type OutputStream = 'stdout' | 'stderr';

/** Host directories of one execution, mounted (Docker) or exported (bare shell) to the task. */
export interface ExecutionDirs {
  input: string;
  output: string;
  temp: string;
  /** Shared resource cache; read-only for the task. */
  resource: string;
}

export interface RunSpec {
  executionId: number;
  command: string;
  /** Interpreter of the script: 'sh', 'bash', 'python3', … */
  shell: string;
  /** Image to run in; absent or null means the bare shell runner. */
  container?: string | null;
  /** docker-run-like options, see shared/dockerPolicy.ts. */
  containerOptions: string[];
  /** The Docker policy the server sent with the assignment (absent: the defaults): the Docker runner refuses options it forbids. */
  dockerPolicy?: DockerPolicy | null;
  /** The task's variables, secrets already resolved: never logged, never written to the state directory. */
  env: Record<string, string>;
  dirs: ExecutionDirs;
  /** CPUs allotted to the task, exported as CPU. */
  cpus: number;
  /** The task's memory requirement: a Docker task runs under this limit (unless its options set --memory). */
  memoryMb?: number;
  onOutput(stream: OutputStream, chunk: Buffer): void;
}

export interface RunResult {
  /** null when the task died from a signal. */
  exitCode: number | null;
  /** Signal name (e.g. 'SIGKILL') when the task was ended by one (in Docker: by one labq sent). */
  signal: string | null;
  /** Peak memory of the task (see each runner for how it is measured), null when not measured. */
  peakMemoryBytes: number | null;
  /** CPU time the task used, user + system (see each runner), null when not measured. */
  cpuSeconds: number | null;
  /** The kernel killed a process of the task at its memory limit, and the task failed. */
  oomKilled: boolean;
  /** What went wrong around the task (OOM kill, cleanup failure), null when nothing did. */
  error: string | null;
}

export interface RunHandle {
  /** Container id or process id, for logs and for re-attaching after a restart. */
  readonly ref: string;
  wait(): Promise<RunResult>;
  kill(graceMs: number): Promise<void>;
  readonly suspended: boolean;
  suspend(): Promise<void>;
  resume(): Promise<void>;
}

export interface Runner {
  start(spec: RunSpec): Promise<RunHandle>;
}

/** Variables every task sees, whatever the runner; they win over the task's own env. */
export function labqEnv(dirs: ExecutionDirs, cpus: number): Record<string, string> {
  return { INPUT: dirs.input, OUTPUT: dirs.output, TEMP: dirs.temp, RESOURCE: dirs.resource, CPU: String(cpus) };
}

/**
 * What a bare task inherits of the worker's environment: where programs are, the home
 * directory, the locale and who it runs as. Nothing else: the worker's credentials (its
 * LABQ_TOKEN, AWS_* for its transfers, …) stay in the worker.
 */
export const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'USER', 'LOGNAME'] as const;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let workerInherited: Record<string, string> | undefined;
const inheritedFrom = (host: NodeJS.ProcessEnv) =>
  Object.fromEntries(INHERITED_ENV.flatMap((name) => (host[name] !== undefined ? [[name, host[name]!]] : []))) as Record<string, string>;

/** A bare task's whole environment: the inherited few, TMPDIR in its temp dir, its own env, then labq's variables. */
export function bareEnv(spec: Pick<RunSpec, 'env' | 'dirs' | 'cpus'>, host: NodeJS.ProcessEnv = process.env): Record<string, string> {
  // The worker's own environment does not change while it runs: read once (process.env is slow to read).
  const inherited = host === process.env ? (workerInherited ??= inheritedFrom(host)) : inheritedFrom(host);
  return { PATH: DEFAULT_PATH, ...inherited, TMPDIR: spec.dirs.temp, ...spec.env, ...labqEnv(spec.dirs, spec.cpus) };
}

/** The script file of a task's command, in its temp dir, and its mode. */
export const COMMAND_FILE = '.labq-command';
export const COMMAND_MODE = 0o644;

/**
 * Writes the command to a script file in the temp dir and returns its path; a dot-file so
 * `ls $TEMP` stays clean, world-readable so a container running as another user can read it.
 * A bare execution's folders are reused (workFolders.ts), the file with them: it is
 * overwritten in place, but never through a link a task left there (O_NOFOLLOW, one link only).
 */
export function writeScript(tempDir: string, command: string): string {
  const path = join(tempDir, COMMAND_FILE);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, COMMAND_MODE);
    // Written over only once known to be this file alone: another name would lose its content.
    if (fstatSync(fd).nlink !== 1) {
      closeSync(fd);
      throw new Error('linked elsewhere');
    }
  } catch {
    rmSync(path, { force: true, recursive: true });
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, COMMAND_MODE);
  }
  try {
    // Written over from the start, then cut to its length: truncating to nothing first would
    // free the file's block for the write to allocate again, each task.
    const text = Buffer.from(command.endsWith('\n') ? command : command + '\n');
    for (let done = 0; done < text.length;) done += writeSync(fd, text, done, text.length - done, done);
    ftruncateSync(fd, text.length);
  } finally {
    closeSync(fd);
  }
  return path;
}

/** Whether `promise` settles within `ms`; the timer is cleared so it never holds the process. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([promise.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A task's end as labq tells it, whoever ran it: `code` as a shell reports it (128 + N when it
 * died of signal N). A task that died of the signal labq sent it says so, as a process would;
 * one that died of another signal keeps its 128 + N.
 */
export function endOf(code: number | null, lastSignal: NodeJS.Signals | null): { exitCode: number | null; signal: NodeJS.Signals | null } {
  if (code !== null && lastSignal && code === 128 + osConstants.signals[lastSignal]) return { exitCode: null, signal: lastSignal };
  return { exitCode: code, signal: null };
}
