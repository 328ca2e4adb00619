// Part 2 of `npm run bench`: one labq server process under a load generator that behaves
// like many workers over HTTP. Each simulated worker registers (with an instance UUID)
// and exchanges as the daemon does: each exchange carries, for every task the previous
// one assigned, what a worker running a short task says (a `running` phase, a small
// output chunk, the result), and takes up to 4 new tasks. No process is started: the
// figure is what the server (and PostgreSQL) can carry, not the workers.
import { finished, running } from '../e2e/support/reports.js';
import { LabqClient } from '../shared/client.js';
import { nodeTransport } from '../worker/httpTransport.js';
import { cpuSeconds, diffStats, load, mib, rss, rssSampler, startLabqServer } from './procs.js';
import type { Helpers } from './protocol.js';
import { registerSimulatedWorkers } from './simulatedWorkers.js';
import { percentiles, sleep } from './support.js';

export interface CapacityOptions extends Helpers {
  CAPACITY_WORKERS: number;
  CAPACITY_SECONDS: number;
  CAPACITY_TASKS: number;
}

const chunk = Buffer.from('hello from a simulated worker\n').toString('base64');

export async function capacity(o: CapacityOptions): Promise<void> {
  const { line, fig } = o;
  line(`\n== labq server capacity: ${o.CAPACITY_WORKERS} simulated workers over HTTP, one server process, ${o.CAPACITY_SECONDS} s at most`);
  const db = await o.freshDatabase('labq_capacity');
  const server = await startLabqServer(db.url);
  try {
    // The simulated workers talk as the daemon does (node:http, kept-alive connections): with
    // fetch, the load generator took more of the shared two cores than the server's answer needed.
    const client = new LabqClient({ server: server.url, token: server.token, transport: nodeTransport });
    for (let done = 0; done < o.CAPACITY_TASKS; done += 10_000) {
      await client.submitTasks({ tasks: Array.from({ length: Math.min(10_000, o.CAPACITY_TASKS - done) }, () => ({ command: 'true', tag: 'default' })) });
    }
    const workers = await registerSimulatedWorkers(client, 'sim', o.CAPACITY_WORKERS, 4);
    await sleep(1000);
    const restRss = rss(server.pid);
    const st0 = await o.stats(db.name);
    const counters0 = await o.labqCounters(db.url);
    const sampler = rssSampler({ server: server.pid });
    await o.statements.start(db.url);
    const cpu0 = cpuSeconds(server.pid);
    const ownCpu0 = process.cpuUsage();
    const load0 = load();
    let completed = 0;
    let errors = 0;
    let lastError = '';
    const exchangeMs: number[] = [];
    const t0 = performance.now();
    const deadline = t0 + o.CAPACITY_SECONDS * 1000;
    let empty = false;
    await Promise.all(workers.map(async (w) => {
      let held: number[] = [];
      for (let seq = 1; seq < 100_000 && performance.now() < deadline && !empty; seq++) {
        try {
          const p0 = performance.now();
          const answer = await client.pollWorker(w.id, {
            instance: w.instance, seq, want: 4, holding: held, wait_seconds: held.length > 0 ? 0 : 1,
            reports: held.map((id) => ({ execution_id: id, reports: [
              running, { kind: 'output', stream: 'stdout', seq: 0, data: chunk }, finished(),
            ] })),
          });
          exchangeMs.push(performance.now() - p0);
          completed += answer.reports.filter((r) => r.recorded).length;
          held = answer.assignments.map((a) => a.execution_id);
          if (held.length === 0 && completed >= o.CAPACITY_TASKS) empty = true;
        } catch (error) {
          errors++;
          lastError = (error as Error).message;
          await sleep(200);
        }
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(server.pid) - cpu0;
    const own = process.cpuUsage(ownCpu0);
    const peak = sampler.stop();
    await sleep(1500);
    const st = diffStats(st0, await o.stats(db.name));
    o.results.capacity = completed / seconds;
    line(`  (load before/after: ${load0} / ${load()})`);
    fig('completions per second', `${(completed / seconds).toFixed(1)} (${completed} in ${seconds.toFixed(1)} s)`);
    fig('server CPU per completion', `${((cpu / Math.max(1, completed)) * 1000).toFixed(2)} ms (${cpu.toFixed(1)} s; ${((cpu / seconds) * 100).toFixed(0)}% of one core)`);
    fig('load generator CPU (same machine)', `${((own.user + own.system) / 1e6).toFixed(1)} s`);
    fig('exchange round trip p50 / p95 / p99', percentiles(exchangeMs));
    o.reportDb(st, completed);
    await o.reportLabqCounters(db.url, counters0, completed);
    fig('errors (requests that failed)', `${errors}${lastError ? ` (last: ${lastError.slice(0, 120)})` : ''}`);
    fig('server RSS at rest (200 workers registered) / peak', `${mib(restRss)} / ${mib(peak.server!)}`);
    await o.statements.print(db.url, completed);
  } finally {
    await server.stop();
  }
}
