// `npm run bench`: the worker protocol at speed. labq beside graphile-worker 0.18 on one
// embedded PostgreSQL (a fresh database per run), then the floor of a dispatch on this
// machine (bench/floor.ts), then labq's server capacity under 200
// simulated workers, then labq with 1,000,000 pending tasks against 1,000, then 1,000 SSE
// clients following output and the event stream on one server process. Prints figures
// and ratios, never pass/fail on time. Every count is an environment variable (see
// docs/performance.md); every loop is bounded in count and time; all load goes to 127.0.0.1.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { makeWorkerUtils, runMigrations, Logger } from 'graphile-worker';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.js';
import { LabqClient } from '../shared/client.js';
import {
  cpuSeconds, dbStats, launcherCpu, workerRss, diffStats, load, postmasterPid, mib, removeTempDirs, rss, rssSampler, startGraphileWorker, startLabqServer,
  startLabqWorker, tempDir, type Child, type DbStats, childCpuSeconds,
} from './procs.js';
import { percentile, percentiles, sleep } from './support.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const TASKS = env('LABQ_BENCH_TASKS', 3000);
const SLOTS = (process.env.LABQ_BENCH_SLOTS ?? '4,24').split(',').map(Number);
const LATENCY_SAMPLES = env('LABQ_BENCH_LATENCY_SAMPLES', 200);
const RUN_TIMEOUT_S = env('LABQ_BENCH_RUN_TIMEOUT', 240);
const CAPACITY_WORKERS = env('LABQ_BENCH_CAPACITY_WORKERS', 200);
const IDLE_WORKERS = env('LABQ_BENCH_IDLE_WORKERS', 200);
const CAPACITY_SECONDS = env('LABQ_BENCH_CAPACITY_SECONDS', 30);
const CAPACITY_TASKS = env('LABQ_BENCH_CAPACITY_TASKS', 60_000);
const SCALE_TASKS = env('LABQ_BENCH_SCALE_TASKS', 1_000_000);
const SCALE_TIMEOUT_S = env('LABQ_BENCH_SCALE_TIMEOUT', 420);
const FOLLOWERS = env('LABQ_BENCH_FOLLOWERS', 1000);
const FOLLOW_EXECUTIONS = env('LABQ_BENCH_FOLLOW_EXECUTIONS', 100);
const SWEEP_TASKS = env('LABQ_BENCH_SWEEP_TASKS', 100_000);
const STATEMENTS = env('LABQ_BENCH_STATEMENTS', 0);
const PARTS = new Set((process.env.LABQ_BENCH_PARTS ?? 'compare,floor,capacity,idle,scale,follow,sweep').split(','));
const quietLogger = new Logger(() => () => undefined);

const line = (s: string) => process.stdout.write(s + '\n');
const fig = (name: string, value: string) => line(`  ${name.padEnd(58)} ${value}`);
const results: Record<string, number> = {};

let cluster: EmbeddedDatabase;
let postmaster = 0;
const stats = (database: string) => dbStats(cluster.adminUrl, database, postmaster);
let dbCount = 0;

async function admin<T>(f: (c: pg.Client) => Promise<T>, url = cluster.adminUrl): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

async function freshDatabase(prefix: string): Promise<{ name: string; url: string }> {
  const name = `${prefix}_${++dbCount}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(cluster.url);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

/** Bytes of every table (with its indexes and TOAST) of a schema. */
async function schemaBytes(url: string, schema: string): Promise<{ total: number; top: string }> {
  return admin(async (c) => {
    const r = await c.query(`
      SELECT c.relname, pg_total_relation_size(c.oid)::bigint AS bytes FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p')
      ORDER BY 2 DESC`, [schema]);
    const rows = r.rows.map((x) => ({ name: x.relname as string, bytes: Number(x.bytes) }));
    return { total: rows.reduce((a, x) => a + x.bytes, 0), top: rows.slice(0, 4).map((x) => `${x.name} ${mib(x.bytes)}`).join(', ') };
  }, url);
}

/**
 * A run's progress, read every 100 ms on one connection held for the run: a connection per
 * read (a backend forked, a password handshake) and a count over the tasks' table took CPU
 * from the run it measured. labq's figure comes from its task_counts projection, exact in
 * every transaction, as `labq status` reads it.
 */
interface Counter { read(): Promise<number>; end(): Promise<void> }

async function counter(url: string, query: string): Promise<Counter> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return { read: async () => Number((await c.query(query)).rows[0].n), end: () => c.end() };
}

async function waitFor(what: string, timeoutS: number, done: () => Promise<boolean>, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutS * 1000;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await sleep(everyMs);
  }
  line(`  (gave up waiting for ${what} after ${timeoutS} s)`);
  return false;
}

/** One dispatch: when the submit was sent and answered and the task ran (epoch ms), and what the submit returned. */
interface Dispatch<T> { submitted: number; answered: number; ran: number; id: T }

/** Submit one task at a time to idle workers; the task writes `date +%s%N` into a file. */
async function dispatchLatency<T>(submit: (command: string) => Promise<T>): Promise<{ samples: number[]; dispatches: Array<Dispatch<T>> }> {
  const dir = await tempDir('labq-bench-latency-');
  const dispatches: Array<Dispatch<T>> = [];
  const deadline = Date.now() + RUN_TIMEOUT_S * 1000;
  for (let i = 0; i < LATENCY_SAMPLES && Date.now() < deadline; i++) {
    await sleep(100); // let the workers park again
    const file = join(dir, String(i));
    const submitted = performance.timeOrigin + performance.now();
    const id = await submit(`date +%s%N > ${file}.tmp && mv ${file}.tmp ${file}`);
    const answered = performance.timeOrigin + performance.now();
    const gotIt = await waitFor(`latency sample ${i}`, 10, async () => existsSync(file), 2);
    if (!gotIt) continue;
    dispatches.push({ submitted, answered, ran: Number(readFileSync(file, 'utf8').trim()) / 1e6, id });
  }
  return { samples: dispatches.map((d) => d.ran - d.submitted).sort((a, b) => a - b), dispatches };
}

/**
 * Where a labq dispatch goes, p50 and p99 of each step, and the steps of the slowest 1 %
 * (at least two): the transactions' start times, which the
 * projections keep from the events' `created_at` (`now()`: the task's `submitted_at`, its
 * first execution's `assigned_at`), on the same clock as the benchmark's.
 */
async function explainDispatches(url: string, dispatches: Array<Dispatch<number>>): Promise<{ p50: string; p99: string; slowest: string } | null> {
  const starts = await admin(async (c) => (await c.query(`
    SELECT t.id, extract(epoch FROM t.submitted_at) * 1000 AS submit_tx, extract(epoch FROM min(x.assigned_at)) * 1000 AS claim_tx
    FROM tasks t JOIN executions x ON x.task_id = t.id WHERE t.id = ANY($1::int8[]) GROUP BY t.id`, [dispatches.map((d) => d.id)])).rows, url);
  const byId = new Map(starts.map((r) => [Number(r.id), { submit: Number(r.submit_tx), claim: Number(r.claim_tx) }]));
  const found = dispatches.flatMap((d) => (byId.has(d.id) ? [{ ...d, tx: byId.get(d.id)! }] : []));
  if (found.length === 0) return null;
  const steps: Array<[string, (d: (typeof found)[number]) => number]> = [
    ['request → submit\'s transaction', (d) => d.tx.submit - d.submitted],
    ['→ claim\'s transaction', (d) => d.tx.claim - d.tx.submit],
    ['→ the task runs', (d) => d.ran - d.tx.claim],
    ['submit answered after', (d) => d.answered - d.submitted],
  ];
  const at = (p: number) => steps.map(([name, step]) => `${name} ${percentile(found.map(step).sort((a, b) => a - b), p).toFixed(1)} ms`).join('; ');
  // The slowest dispatches' own steps: which step their tail is in.
  const slowest = [...found].sort((a, b) => (b.ran - b.submitted) - (a.ran - a.submitted)).slice(0, Math.max(2, Math.ceil(found.length / 100)));
  return {
    p50: at(50),
    p99: at(99),
    slowest: slowest.map((d) => `${(d.ran - d.submitted).toFixed(1)} ms = ${steps.slice(0, 3).map(([, step]) => step(d).toFixed(1)).join(' + ')}`).join('; '),
  };
}

// PostgreSQL's own account of its deadlocks (which statements waited for which): the
// first of each run is printed, so a reader sees where the lock orders cross.
const deadlockLog: string[] = [];
let capture = 0;
function watchDeadlocks(message: string): void {
  if (process.env.LABQ_BENCH_PG_LOG) appendFileSync(process.env.LABQ_BENCH_PG_LOG, message + '\n');
  if (/deadlock detected/.test(message)) capture = 6;
  if (capture > 0) {
    capture--;
    deadlockLog.push(message.replace(/^\S+ \S+ \S+ \[\d+\] /gm, '').slice(0, 600));
  }
}

function reportDb(st: DbStats, done: number): void {
  fig('deadlocks (pg_stat_database, this database)', `${st.deadlocks}`);
  if (st.deadlocks > 0 && deadlockLog.length) line(`    the first one, as PostgreSQL logged it:\n      ${deadlockLog.join('\n').split('\n').slice(0, 12).join('\n      ')}`);
  deadlockLog.length = 0;
  fig('transactions per finished task, read-only included (commits, rollbacks)', `${(st.commits / Math.max(1, done)).toFixed(1)} (${st.commits}, ${st.rollbacks})`);
  fig('PostgreSQL CPU per finished task (all backends)', `${((st.pgCpu / Math.max(1, done)) * 1000).toFixed(2)} ms (${st.pgCpu.toFixed(1)} s)`);
}

/** labq's own counters in a database: exchanges (the first round of each writes the worker's liveness row; parked rounds write nothing) and events. */
async function labqCounters(url: string): Promise<{ rounds: number; events: number }> {
  return admin(async (c) => {
    const r = await c.query(`SELECT (SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables WHERE relname = 'worker_liveness') AS rounds,
                                    (SELECT count(*) FROM events) AS events`);
    return { rounds: Number(r.rows[0].rounds), events: Number(r.rows[0].events) };
  }, url);
}

async function reportLabqCounters(url: string, before: { rounds: number; events: number }, done: number): Promise<void> {
  const after = await labqCounters(url);
  const per = (n: number) => (n / Math.max(1, done)).toFixed(1);
  fig('exchanges (first rounds: liveness writes) / events, per finished task', `${per(after.rounds - before.rounds)} / ${per(after.events - before.events)}`);
}

// ---------------------------------------------------------------- part 1: beside graphile-worker

/**
 * The worker processes' own CPU seconds and those of the task processes they waited for,
 * summed (less `since`); a labq worker's task launcher counts as the worker, what it reaped
 * as its task processes.
 */
function workersCpu(workers: Child[], since = { own: 0, launcher: 0, tasks: 0 }): { own: number; launcher: number; tasks: number } {
  const launchers = workers.map((w) => launcherCpu(w.pid));
  const launcher = launchers.reduce((sum, l) => sum + l.own, 0);
  return {
    own: workers.reduce((sum, w) => sum + cpuSeconds(w.pid), 0) + launcher - since.own,
    launcher: launcher - since.launcher,
    tasks: workers.reduce((sum, w, i) => sum + childCpuSeconds(w.pid) + launchers[i]!.tasks, 0) - since.tasks,
  };
}

function reportWorkersCpu(cpu: { own: number; launcher: number; tasks: number }, done: number): void {
  const per = (s: number) => ((s / Math.max(1, done)) * 1000).toFixed(2);
  const launcher = cpu.launcher > 0 ? ` (of which the task launchers ${per(cpu.launcher)} ms)` : '';
  fig('worker processes\' CPU per finished task: own / its task processes', `${per(cpu.own)} ms${launcher} / ${per(cpu.tasks)} ms`);
}


async function labqRun(slots: number, latency: boolean): Promise<void> {
  const db = await freshDatabase('labq');
  const server = await startLabqServer(db.url);
  const base = await schemaBytes(db.url, 'public');
  const workers: Child[] = [];
  let progress: Counter | undefined;
  try {
    const client = new LabqClient({ server: server.url, token: server.token });
    workers.push(await startLabqWorker(server, 'bench-1', slots), await startLabqWorker(server, 'bench-2', slots));
    await waitFor('2 labq workers online', 30, async () => (await client.listWorkers({ limit: 10 })).items.filter((w) => w.status === 'online').length === 2, 200);
    await sleep(1000);
    const rest = { server: rss(server.pid), worker: Math.max(...workers.map((w) => workerRss(w.pid))) };
    const st0 = await stats(db.name);
    const counters0 = await labqCounters(db.url);
    await statements.start(db.url);
    const cpu0 = cpuSeconds(server.pid);
    const workerCpu0 = workersCpu(workers);
    const sampler = rssSampler({ server: server.pid, worker1: () => workerRss(workers[0]!.pid), worker2: () => workerRss(workers[1]!.pid) });
    const load0 = load();
    const t0 = performance.now();
    for (let done = 0; done < TASKS; done += 10_000) {
      await client.submitTasks({ tasks: Array.from({ length: Math.min(10_000, TASKS - done) }, () => ({ command: 'true', tag: 'default' })) });
    }
    progress = await counter(db.url, `SELECT coalesce(sum(n), 0) AS n FROM task_counts WHERE scope = 'all' AND scope_id = 0 AND status IN ('succeeded', 'failed', 'cancelled')`);
    const finished = progress.read;
    await waitFor('labq tasks', RUN_TIMEOUT_S, async () => (await finished()) >= TASKS, 100);
    const seconds = (performance.now() - t0) / 1000;
    const done = await finished();
    const peak = sampler.stop();
    const cpu = cpuSeconds(server.pid) - cpu0;
    const workerCpu = workersCpu(workers, workerCpu0);
    await sleep(1500); // pg_stat_database is flushed about once a second
    const st = diffStats(st0, await stats(db.name));
    const outcome = await admin(async (c) => (await c.query(`
      SELECT count(*) FILTER (WHERE status = 'succeeded') AS ok, count(*) FILTER (WHERE status <> 'succeeded') AS other,
             (SELECT count(*) FROM executions) AS executions,
             (SELECT count(*) FROM executions WHERE status = 'lost') AS lost FROM tasks`)).rows[0], db.url);
    results[`labq_${slots}`] = done / seconds;
    line(`labq, ${TASKS} bare \`true\` tasks, 2 worker processes × ${slots} slots (load before/after: ${load0} / ${load()})`);
    fig('throughput', `${(done / seconds).toFixed(1)} tasks/s (${done} finished in ${seconds.toFixed(1)} s)`);
    fig('outcomes', `${outcome.ok} succeeded, ${outcome.other} not, ${outcome.executions} executions of which ${outcome.lost} lost (and retried)`);
    reportDb(st, done);
    await reportLabqCounters(db.url, counters0, done);
    fig('server CPU per finished task', `${((cpu / Math.max(1, done)) * 1000).toFixed(2)} ms (${cpu.toFixed(1)} s in all)`);
    reportWorkersCpu(workerCpu, done);
    await statements.print(db.url, done);
    fig('RSS at rest: server / worker', `${mib(rest.server)} / ${mib(rest.worker)}`);
    fig('RSS peak under load: server / worker', `${mib(peak.server!)} / ${mib(Math.max(peak.worker1!, peak.worker2!))}`);
    if (latency) {
      const { samples, dispatches } = await dispatchLatency(async (command) => (await client.submitTasks({ command, tag: 'default' })).tasks[0]!.id);
      results.labq_latency_p50 = percentile(samples, 50);
      fig(`dispatch latency, ${samples.length} samples, p50 / p95 / p99`, percentiles(samples));
      const explained = await explainDispatches(db.url, dispatches);
      if (!explained) fig('dispatch, each step', 'no dispatch found among the tasks');
      else {
        fig('dispatch, each step\'s p50', explained.p50);
        fig('dispatch, each step\'s p99', explained.p99);
        fig('the slowest dispatches: the three steps', explained.slowest);
      }
      await sleep(1000);
      const after = await schemaBytes(db.url, 'public');
      const n = await finished();
      const perMillion = ((after.total - base.total) / n) * 1e6;
      results.labq_bytes_per_million = perMillion;
      fig('PostgreSQL bytes per million finished tasks', `${(perMillion / 2 ** 30).toFixed(2)} GiB (${mib(after.total - base.total)} for ${n} tasks; ${after.top})`);
    }
  } finally {
    await progress?.end();
    for (const w of workers) await w.stop();
    await server.stop();
  }
}

async function graphileRun(slots: number, latency: boolean): Promise<void> {
  const db = await freshDatabase('gw');
  await runMigrations({ connectionString: db.url, logger: quietLogger });
  const workers: Child[] = [];
  const utils = await makeWorkerUtils({ connectionString: db.url, logger: quietLogger });
  let progress: Counter | undefined;
  try {
    workers.push(await startGraphileWorker(db.url, slots), await startGraphileWorker(db.url, slots));
    await sleep(1000);
    const rest = Math.max(...workers.map((w) => rss(w.pid)));
    const st0 = await stats(db.name);
    const workerCpu0 = workersCpu(workers);
    const sampler = rssSampler({ worker1: workers[0]!.pid, worker2: workers[1]!.pid });
    const load0 = load();
    progress = await counter(db.url, 'SELECT count(*) AS n FROM graphile_worker._private_jobs');
    const remaining = progress.read;
    const t0 = performance.now();
    for (let done = 0; done < TASKS; done += 10_000) {
      await utils.addJobs(Array.from({ length: Math.min(10_000, TASKS - done) }, () => ({ identifier: 'sh', payload: {} })));
    }
    await waitFor('graphile-worker jobs', RUN_TIMEOUT_S, async () => (await remaining()) === 0, 100);
    const seconds = (performance.now() - t0) / 1000;
    const done = TASKS - (await remaining());
    const peak = sampler.stop();
    const workerCpu = workersCpu(workers, workerCpu0);
    await sleep(1500);
    const st = diffStats(st0, await stats(db.name));
    results[`gw_${slots}`] = done / seconds;
    line(`graphile-worker 0.18.0, ${TASKS} jobs spawning \`sh -c true\`, 2 worker processes × concurrency ${slots} (load before/after: ${load0} / ${load()})`);
    fig('throughput', `${(done / seconds).toFixed(1)} tasks/s (${done} finished in ${seconds.toFixed(1)} s)`);
    reportDb(st, done);
    reportWorkersCpu(workerCpu, done);
    fig('RSS at rest / peak under load: worker', `${mib(rest)} / ${mib(Math.max(peak.worker1!, peak.worker2!))}`);
    if (latency) {
      const { samples } = await dispatchLatency(async (cmd) => {
        await utils.addJob('sh', { cmd });
      });
      results.gw_latency_p50 = percentile(samples, 50);
      fig(`dispatch latency, ${samples.length} samples, p50 / p95 / p99`, percentiles(samples));
      const bytes = await schemaBytes(db.url, 'graphile_worker');
      fig('PostgreSQL bytes of its schema after the run', `${mib(bytes.total)} (finished jobs are deleted; ${bytes.top})`);
    }
  } finally {
    await progress?.end();
    await utils.release();
    for (const w of workers) await w.stop();
  }
}

async function compare(): Promise<void> {
  line(`\n== labq beside graphile-worker: ${TASKS} tasks, 2 worker processes, slots ${SLOTS.join(' and ')}`);
  for (const slots of SLOTS) {
    const latency = slots === SLOTS[0] && LATENCY_SAMPLES > 0;
    await labqRun(slots, latency);
    await graphileRun(slots, latency);
    line(`  ratio graphile-worker / labq at ${slots} slots: ${(results[`gw_${slots}`]! / results[`labq_${slots}`]!).toFixed(1)}×`);
  }
  if (results.labq_latency_p50 && results.gw_latency_p50) {
    line(`  ratio of dispatch latency p50, labq / graphile-worker: ${(results.labq_latency_p50 / results.gw_latency_p50).toFixed(1)}×`);
  }
}

/**
 * With LABQ_BENCH_STATEMENTS=N, the profile of a load: `start` resets pg_stat_statements in
 * the run's database, `print` shows its N most expensive statements (nested ones included:
 * triggers and functions) by total time.
 */
const statements = {
  async start(url: string): Promise<void> {
    if (STATEMENTS <= 0) return;
    await admin(async (c) => {
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await c.query('SELECT pg_stat_statements_reset()');
    }, url);
  },
  async print(url: string, done: number): Promise<void> {
    if (STATEMENTS <= 0) return;
    const rows = await admin(async (c) => (await c.query(`
      SELECT calls, total_exec_time, rows, toplevel, regexp_replace(query, '\\s+', ' ', 'g') AS query
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time DESC LIMIT $1`, [STATEMENTS])).rows, url);
    line(`  statements by total time (ms per finished task, calls, rows per call; * nested):`);
    for (const r of rows) {
      const perTask = Number(r.total_exec_time) / Math.max(1, done);
      line(`    ${perTask.toFixed(3).padStart(7)} ms ${String(r.calls).padStart(7)} ${(Number(r.rows) / Math.max(1, Number(r.calls))).toFixed(1).padStart(6)} ${r.toplevel ? ' ' : '*'} ${String(r.query).slice(0, 150)}`);
    }
  },
};

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const dataDir = await tempDir('labq-bench-pg-');
  const settings: Record<string, string> = STATEMENTS > 0 ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {};
  Object.assign(settings, JSON.parse(process.env.LABQ_BENCH_PG_SETTINGS ?? '{}'));
  cluster = await startEmbeddedPostgres({ dataDir, database: 'labq_bench', pgLog: watchDeadlocks, settings });
  postmaster = postmasterPid(join(dataDir, 'pg'));
  line(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, load ${load()}`);
  line('figures from a shared machine vary from run to run; compare figures of one run');
  const pgVersion = await admin(async (c) => (await c.query('SHOW server_version')).rows[0].server_version as string);
  line(`PostgreSQL ${pgVersion} (embedded, fsync on), one cluster, a fresh database per run`);
  try {
    if (PARTS.has('compare')) await compare();
    const helpers: Helpers = { labqCounters, reportLabqCounters, stats, reportDb, freshDatabase, admin, line, fig, results, statements };
    if (PARTS.has('floor')) await (await import('./floor.js')).floor({ ...helpers, LATENCY_SAMPLES });
    if (PARTS.has('capacity')) await (await import('./capacity.js')).capacity({ ...helpers, CAPACITY_WORKERS, CAPACITY_SECONDS, CAPACITY_TASKS });
    if (PARTS.has('idle')) await (await import('./idle.js')).idle({ ...helpers, IDLE_WORKERS, LATENCY_SAMPLES });
    if (PARTS.has('scale')) await (await import('./scale.js')).scale({ ...helpers, SCALE_TASKS, SCALE_TIMEOUT_S, schemaBytes });
    if (PARTS.has('follow')) await (await import('./follow.js')).follow({ ...helpers, FOLLOWERS, FOLLOW_EXECUTIONS });
    if (PARTS.has('sweep')) await (await import('./sweep.js')).sweep({ ...helpers, SWEEP_TASKS });
  } finally {
    await cluster.stop();
    await removeTempDirs();
  }
  line(`\nload average at the end: ${load()}`);
}

export type Helpers = {
  labqCounters: typeof labqCounters;
  reportLabqCounters: typeof reportLabqCounters;
  stats: typeof stats;
  reportDb: typeof reportDb;
  freshDatabase: typeof freshDatabase;
  admin: typeof admin;
  line: typeof line;
  fig: typeof fig;
  results: typeof results;
  statements: typeof statements;
};


await main();
