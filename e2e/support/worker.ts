// Workers for tests: in-process daemons (same code as `labq worker`) and real child
// processes (for kill -9 and restarts), each with a state directory of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerDaemon, type WorkerOptions } from '../../worker/daemon.js';
import type { TestServer } from './server.js';

export const CLI = new URL('../../cli/main.js', import.meta.url).pathname;

export async function startTestWorker(ts: Pick<TestServer, 'url' | 'token'>, options: Partial<WorkerOptions> = {}): Promise<WorkerDaemon & { logs: string[] }> {
  const logs: string[] = [];
  const daemon = new WorkerDaemon({
    server: ts.url,
    token: ts.token,
    name: `w-${Math.random().toString(36).slice(2, 8)}`,
    stateDir: await mkdtemp(join(tmpdir(), 'labq-worker-')),
    docker: 'off',
    pollWaitSeconds: 5,
    log: (line) => logs.push(line),
    ...options,
  }) as WorkerDaemon & { logs: string[] };
  daemon.logs = logs;
  await daemon.start();
  return daemon;
}

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `labq worker …` as a child process, with its output collected. */
export function spawnWorker(server: string, token: string, args: string[], env: Record<string, string> = {}, cwd?: string): WorkerProcess {
  const child = spawn(process.execPath, [CLI, '--server', server, '--token', token, 'worker', ...args], {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

/** Waits until a task has ended (or is blocked), and returns it. */
export function taskEnded(ts: Pick<TestServer, 'client'>, id: number) {
  return until(`task ${id} to end`, async () => {
    const task = await ts.client.getTask(id);
    return ['succeeded', 'failed', 'cancelled', 'blocked'].includes(task.status) && task;
  });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms`. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The promise's value, or a failure naming `what` if it has not settled within `ms`: a hang turned into a failure, never a bound on how long something took. */
export async function settles<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms (hung)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
