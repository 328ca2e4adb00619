// Part `idle` of `npm run bench`: an idle fleet. LABQ_BENCH_IDLE_WORKERS simulated workers
// (over HTTP, as in the capacity part) park their exchanges with free slots; tasks are then
// submitted one at a time, LABQ_BENCH_LATENCY_SAMPLES of them, each once the one before was
// taken. A worker that is handed a task reports it finished in its next exchange and parks
// again. The figures are what one new task costs the server and PostgreSQL when many workers
// could take it (server/workers/wakeups.ts), and how long it takes to reach one of them.
import { setMaxListeners } from 'node:events';
import { finished, running } from '../e2e/support/reports.js';
import { LabqClient } from '../shared/client.js';
import { nodeTransport } from '../worker/httpTransport.js';
import { cpuSeconds, diffStats, startLabqServer } from './procs.js';
import type { Helpers } from './protocol.js';
import { registerSimulatedWorkers } from './simulatedWorkers.js';
import { percentiles, sleep } from './support.js';

export interface IdleOptions extends Helpers {
  IDLE_WORKERS: number;
  LATENCY_SAMPLES: number;
}

export async function idle(o: IdleOptions): Promise<void> {
  const { line, fig } = o;
  line(`\n== an idle fleet: ${o.IDLE_WORKERS} simulated workers parked with free slots, ${o.LATENCY_SAMPLES} tasks submitted one at a time`);
  const db = await o.freshDatabase('labq_idle');
  // With a lease of 600 s a poll parks the most an exchange may ask for (60 s): none is answered empty during the measurement.
  const server = await startLabqServer(db.url, { LABQ_LEASE_SECONDS: '600' });
  const stop = new AbortController();
  // Every exchange of the fleet listens to it.
  setMaxListeners(Infinity, stop.signal);
  let fleet: Promise<unknown> = Promise.resolve();
  try {
    const client = new LabqClient({ server: server.url, token: server.token, transport: nodeTransport });
    const workers = await registerSimulatedWorkers(client, 'idle', o.IDLE_WORKERS, 4);
    const reached = new Map<number, number>();
    let errors = 0;
    fleet = Promise.all(workers.map(async (w) => {
      let held: number[] = [];
      // A poll that knows an older settings version is answered at once, to tell it the new one.
      let settingsVersion = w.settingsVersion;
      for (let seq = 1; !stop.signal.aborted; seq++) {
        try {
          const answer = await client.pollWorker(w.id, {
            instance: w.instance, seq, want: 4, holding: held, wait_seconds: 60, settings_version: settingsVersion,
            reports: held.map((id) => ({ execution_id: id, reports: [running, finished()] })),
          }, stop.signal);
          held = answer.assignments.map((a) => a.execution_id);
          settingsVersion = answer.settings_version;
          for (const a of answer.assignments) if (!reached.has(a.task.id)) reached.set(a.task.id, performance.now());
        } catch {
          if (stop.signal.aborted) break;
          errors++;
          held = [];
          await sleep(200);
        }
      }
    }));
    // Every worker parked: the first round of each exchange notes its worker alive.
    const alive = () => o.admin(async (c) => Number((await c.query('SELECT count(*) FROM worker_liveness')).rows[0].count), db.url);
    const parkedDeadline = performance.now() + 60_000;
    while ((await alive()) < workers.length && performance.now() < parkedDeadline) await sleep(100);
    await sleep(1000);
    const st0 = await o.stats(db.name);
    const cpu0 = cpuSeconds(server.pid);
    const latency: number[] = [];
    for (let i = 0; i < o.LATENCY_SAMPLES; i++) {
      await sleep(50);
      const t0 = performance.now();
      const { tasks: [task] } = await client.submitTasks({ command: 'true', tag: 'default' });
      const deadline = t0 + 10_000;
      while (!reached.has(task!.id) && performance.now() < deadline) await sleep(1);
      if (reached.has(task!.id)) latency.push(reached.get(task!.id)! - t0);
    }
    // The last task's report, and the parking that follows, belong to the measurement.
    await sleep(500);
    const cpu = cpuSeconds(server.pid) - cpu0;
    await sleep(1500); // pg_stat_database is flushed about once a second
    const st = diffStats(st0, await o.stats(db.name));
    const n = Math.max(1, latency.length);
    fig('tasks reached a worker', `${latency.length} of ${o.LATENCY_SAMPLES}`);
    fig('submit → a worker has the task, p50 / p95 / p99', percentiles(latency));
    fig('server CPU per task', `${((cpu / n) * 1000).toFixed(2)} ms (${cpu.toFixed(2)} s)`);
    o.reportDb(st, n);
    fig('errors (requests that failed)', `${errors}`);
  } finally {
    stop.abort();
    await fleet;
    await server.stop();
  }
}
