// Child processes and what the benchmarks read about them: a labq server, labq worker
// daemons and graphile-worker pools as real processes; their resident memory and CPU time
// from /proc; the machine's load; PostgreSQL's deadlock counter.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from '../server/db/embedded.js';
import { statFields } from '../worker/procStat.js';

const distDir = dirname(dirname(fileURLToPath(import.meta.url)));
const labqMain = join(distDir, 'cli', 'main.js');
const gwMain = join(distDir, 'bench', 'gwWorker.js');

export interface Child {
  proc: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

const tempDirs: string[] = [];
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
export async function removeTempDirs(): Promise<void> {
  for (const d of tempDirs.splice(0)) await rm(d, { recursive: true, force: true });
}

function start(args: string[], env: NodeJS.ProcessEnv, readyLine: RegExp, timeoutMs = 60_000): Promise<Child> {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const stop = () => stopProcess(proc);
  return new Promise<Child>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${args.join(' ')}: not ready after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (readyLine.test(out)) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        proc.stdout!.resume();
        resolve({ proc, pid: proc.pid!, stop });
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code}\n${stderr}`));
    });
  });
}

export interface LabqServer extends Child {
  url: string;
  token: string;
}

/** `labq server` against an existing database, on a free port, with a known admin token; `env`: further settings (LABQ_LEASE_SECONDS…). */
export async function startLabqServer(databaseUrl: string, env: Record<string, string> = {}): Promise<LabqServer> {
  const port = await freePort();
  const token = `labq_${randomBytes(32).toString('base64url')}`;
  const dataDir = await tempDir('labq-bench-server-');
  // LABQ_BENCH_SERVER_NODE_ARGS: node's own options for the server, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const nodeArgs = (process.env.LABQ_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = await start([...nodeArgs, labqMain, 'server', '--host', '127.0.0.1', '--port', String(port)], {
    DATABASE_URL: databaseUrl, LABQ_ADMIN_TOKEN: token, LABQ_DATA_DIR: dataDir, ...env,
  }, /labq is running at/);
  return { ...child, url: `http://127.0.0.1:${port}`, token };
}

/** `labq worker` with bare shell tasks (Docker off) and a state directory of its own. */
export async function startLabqWorker(server: LabqServer, name: string, concurrency: number): Promise<Child> {
  const stateDir = await tempDir('labq-bench-worker-');
  // LABQ_BENCH_WORKER_NODE_ARGS: node's own options for each worker, as for the server.
  const nodeArgs = (process.env.LABQ_BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [
    ...nodeArgs, labqMain, 'worker', '--server', server.url, '--token', server.token, '--name', name,
    '--concurrency', String(concurrency), '--prefetch', process.env.LABQ_BENCH_PREFETCH ?? '0', '--docker', 'off', '--state-dir', stateDir,
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LABQ_DATA_DIR: stateDir } });
  proc.stderr!.resume();
  return {
    proc, pid: proc.pid!,
    stop: () => stopProcess(proc),
  };
}

/** A graphile-worker pool (`run()`) in a process of its own. */
export function startGraphileWorker(databaseUrl: string, concurrency: number): Promise<Child> {
  return start([gwMain, databaseUrl, String(concurrency)], {}, /ready/);
}

/** Resident set size in bytes (VmRSS), 0 once the process is gone. */
export function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const ticks = 100; // USER_HZ on Linux
/** Two clock-tick fields of /proc/PID/stat summed, in seconds (counted after the command name); 0 once the process is gone. */
function statSeconds(pid: number, field: number): number {
  try {
    const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return (Number(fields[field]) + Number(fields[field + 1])) / ticks;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds of a process (its own threads, not its children). */
export const cpuSeconds = (pid: number): number => statSeconds(pid, 11);

/** CPU seconds of the children a process waited for (cutime + cstime): a worker's task processes. */
export const childCpuSeconds = (pid: number): number => statSeconds(pid, 13);

const knownLaunchers = new Map<number, number[]>();

/**
 * The task launchers a labq worker started (worker/runners/launcher.ts: python3 children that
 * live as long as it). Looked for through /proc once found only when one has gone: the
 * memory sampler asks four times a second.
 */
function launchers(worker: number): number[] {
  const known = knownLaunchers.get(worker);
  if (known?.length && known.every((pid) => existsSync(`/proc/${pid}`))) return known;
  const found = childrenOf(worker, 'python3');
  knownLaunchers.set(worker, found);
  return found;
}

/**
 * The CPU seconds of a worker's task launcher: its own, and its children's (the task
 * processes it reaped), which the worker's own cutime never sees while the launcher runs.
 * Zeros without one.
 */
export function launcherCpu(worker: number): { own: number; tasks: number } {
  const sum = { own: 0, tasks: 0 };
  for (const pid of launchers(worker)) {
    sum.own += cpuSeconds(pid);
    sum.tasks += childCpuSeconds(pid);
  }
  return sum;
}

/** A labq worker's resident memory: its process and its task launcher's. */
export const workerRss = (worker: number): number => rss(worker) + launchers(worker).reduce((sum, pid) => sum + rss(pid), 0);

/** Samples the RSS of some processes (a pid, or a function that measures) every 250 ms; peak() gives each one's maximum. */
export function rssSampler(sources: Record<string, number | (() => number)>) {
  const peak: Record<string, number> = {};
  const sample = () => {
    for (const [name, source] of Object.entries(sources)) peak[name] = Math.max(peak[name] ?? 0, typeof source === 'number' ? rss(source) : source());
  };
  sample();
  const timer = setInterval(sample, 250);
  return {
    stop(): Record<string, number> {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

export function load(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

export interface DbStats {
  deadlocks: number;
  commits: number;
  rollbacks: number;
  /** CPU seconds of the postmaster's live children (backends, walwriter, …), all databases. */
  pgCpu: number;
}

/** pg_stat_database counters of one database (flushed by PostgreSQL about once a second). */
export async function dbStats(adminUrl: string, database: string, postmasterPid: number): Promise<DbStats> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const r = await c.query('SELECT deadlocks, xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1', [database]);
    const row = r.rows[0] ?? {};
    return { deadlocks: Number(row.deadlocks ?? 0), commits: Number(row.xact_commit ?? 0), rollbacks: Number(row.xact_rollback ?? 0), pgCpu: childrenCpu(postmasterPid) };
  } finally {
    await c.end();
  }
}

export function diffStats(a: DbStats, b: DbStats): DbStats {
  return { deadlocks: b.deadlocks - a.deadlocks, commits: b.commits - a.commits, rollbacks: b.rollbacks - a.rollbacks, pgCpu: b.pgCpu - a.pgCpu };
}

/** CPU seconds of the live children of a process (a backend that ended meanwhile is missed). */
function childrenCpu(parent: number): number {
  return childrenOf(parent).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

/** The live children of a process, those whose command is `name` when given. */
function childrenOf(parent: number, name?: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (Number(statFields(stat)[1]) === parent && (name === undefined || command === name)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export function postmasterPid(pgDataDir: string): number {
  return Number(readFileSync(join(pgDataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

export const mib = (bytes: number) => (bytes < 10 * 2 ** 20 ? `${(bytes / 2 ** 10).toFixed(0)} KiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

/** SIGTERM, then SIGKILL if it has not exited 15 s later; resolves once it has. */
async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
