// Part 3 of `npm run bench`: labq with 1,000 pending tasks, then with 1,000,000 (filled
// through the HTTP bulk submit, 10,000 tasks a request, the path users take; not a direct
// SQL insert). At each size: the claim latency of a worker poll with want=1, the first page
// and filtered pages of GET /api/v1/tasks, and the submit rate; then the bytes PostgreSQL
// holds per pending task.
import { finished, running } from '../e2e/support/reports.js';
import { LabqClient } from '../shared/client.js';
import { load, mib, rss, rssSampler, startLabqServer } from './procs.js';
import type { Helpers } from './protocol.js';
import { registerSimulatedWorkers } from './simulatedWorkers.js';
import { percentile } from './support.js';

export interface ScaleOptions extends Helpers {
  SCALE_TASKS: number;
  SCALE_TIMEOUT_S: number;
  schemaBytes(url: string, schema: string): Promise<{ total: number; top: string }>;
}

const CHUNK = 10_000;

export async function scale(o: ScaleOptions): Promise<void> {
  const { line, fig } = o;
  line(`\n== labq at scale: 1,000 pending tasks, then up to ${o.SCALE_TASKS.toLocaleString('en')} (HTTP bulk submit, ${CHUNK.toLocaleString('en')} a request, ${o.SCALE_TIMEOUT_S} s at most)`);
  const db = await o.freshDatabase('labq_scale');
  const server = await startLabqServer(db.url);
  try {
    const client = new LabqClient({ server: server.url, token: server.token });
    const { id: probe, instance } = (await registerSimulatedWorkers(client, 'probe', 1, 1000))[0]!;
    let submitted = 0;
    const submit = async (n: number): Promise<number> => {
      const tasks = Array.from({ length: n }, (_, i) => {
        const k = submitted + i;
        return { command: `true ${k}`, tag: k % 100 === 0 ? 'rare' : 'default', priority: k % 3 };
      });
      const t0 = performance.now();
      await client.submitTasks({ tasks });
      submitted += n;
      return n / ((performance.now() - t0) / 1000);
    };
    const timed = async (n: number, f: () => Promise<unknown>): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await f();
        out.push(performance.now() - t0);
      }
      return out.sort((a, b) => a - b);
    };
    const measure = async (label: string) => {
      line(`  with ${submitted.toLocaleString('en')} tasks pending (load ${load()}):`);
      const claims = await timed(20, async () => {
        const t0 = performance.now();
        const answer = await client.pollWorker(probe, { instance, want: 1, holding: [], wait_seconds: 0 });
        const spent = performance.now() - t0;
        for (const a of answer.assignments) {
          await client.sendReports(a.execution_id, { reports: [running, finished()] });
        }
        return spent;
      });
      const show = (name: string, s: number[]) => fig(name, `p50 ${percentile(s, 50).toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms (${s.length} samples)`);
      show('claim: worker poll with want=1 (and its lease renewal)', claims);
      show('GET /tasks?limit=50 (first page)', await timed(10, () => client.listTasks({ limit: 50 })));
      show('GET /tasks?status=pending&tag=rare&limit=50 (1% of tasks)', await timed(10, () => client.listTasks({ status: 'pending', tag: 'rare', limit: 50 })));
      show('GET /tasks?q=999&limit=50 (text in the command)', await timed(5, () => client.listTasks({ q: '999', limit: 50 })));
      // Why tasks wait, as the overview's links ask it: those a worker could take now, those
      // whose workers are all busy (none here, but each task is judged against the workers),
      // and those no online worker takes (the 1 % of tag rare); each page, then its count.
      for (const reason of ['queued', 'workers_busy', 'no_worker_for_tag'] as const) {
        show(`GET /tasks?reason=${reason}&limit=50`, await timed(5, () => client.listTasks({ reason, limit: 50 })));
        show(`GET /tasks/count?reason=${reason}`, await timed(3, () => client.countTasks({ reason })));
      }
      const first = await client.listTasks({ limit: 50 });
      if (first.next_cursor) show('GET /tasks?limit=50 (second page, by cursor)', await timed(10, () => client.listTasks({ limit: 50, cursor: first.next_cursor! })));
      const rate = await submit(label === 'small' ? 1000 : CHUNK);
      fig(`submit rate, one request of ${label === 'small' ? '1,000' : '10,000'} tasks`, `${rate.toFixed(0)} tasks/s`);
      o.results[`scale_claim_${label}`] = percentile(claims, 50);
    };

    await submit(1000);
    await measure('small');

    const restRss = rss(server.pid);
    const sampler = rssSampler({ server: server.pid });
    const t0 = performance.now();
    const deadline = t0 + o.SCALE_TIMEOUT_S * 1000;
    const startCount = submitted;
    while (submitted < o.SCALE_TASKS && performance.now() < deadline) await submit(Math.min(CHUNK, o.SCALE_TASKS - submitted));
    const fillSeconds = (performance.now() - t0) / 1000;
    const peak = sampler.stop();
    fig('fill: bulk submit rate', `${((submitted - startCount) / fillSeconds).toFixed(0)} tasks/s (${(submitted - startCount).toLocaleString('en')} in ${fillSeconds.toFixed(0)} s, load ${load()})`);
    fig('server RSS before / peak during the fill', `${mib(restRss)} / ${mib(peak.server!)}`);
    await measure('large');
    const bytes = await o.schemaBytes(db.url, 'public');
    fig('PostgreSQL bytes per pending task', `${(bytes.total / submitted).toFixed(0)} B (${mib(bytes.total)} in all; ${bytes.top})`);
    const claimRatio = (o.results.scale_claim_large ?? 0) / (o.results.scale_claim_small ?? 1);
    fig('claim latency p50, large queue / 1,000', `${claimRatio.toFixed(1)}×`);
  } finally {
    await server.stop();
  }
}
