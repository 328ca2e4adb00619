// Part `sweep` of `npm run bench`: one POST /api/v1/sweeps of LABQ_BENCH_SWEEP_TASKS tasks
// (100,000, the most one sweep may make) to a `labq server` process on a fresh database;
// then the same sweep again (every task exists, nothing is written). For each: the time of
// the request and the server's resident memory at its peak.
import { LabqClient } from '../shared/client.js';
import type { SweepInput } from '../shared/schemas/sweep.js';
import { load, mib, rss, rssSampler, startLabqServer } from './procs.js';
import type { Helpers } from './protocol.js';

export interface SweepOptions extends Helpers {
  SWEEP_TASKS: number;
}

export async function sweep(o: SweepOptions): Promise<void> {
  const { line, fig } = o;
  const seeds = Math.max(1, Math.floor(o.SWEEP_TASKS / 100));
  line(`\n== a sweep of ${(100 * seeds).toLocaleString('en')} tasks in one request (100 rates × ${seeds.toLocaleString('en')} seeds)`);
  const db = await o.freshDatabase('labq_sweep');
  const server = await startLabqServer(db.url);
  try {
    const client = new LabqClient({ server: server.url, token: server.token });
    const step = await client.createStep({ workflow_id: (await client.createWorkflow({ name: 'sweep' })).id, name: 'grid' });
    const body: SweepInput = {
      template: {
        command: 'simulate --rate {rate} --seed {seed} > /output/result.tsv', step_id: step.id, key: 'simulate',
        inputs: ['s3://bench/params/{rate}.json'], output: 's3://bench/results/{rate}/{seed}/',
      },
      parameters: { rate: Array.from({ length: 100 }, (_, i) => i / 1000), seed: Array.from({ length: seeds }, (_, i) => i) },
    };
    fig('server RSS at rest', mib(rss(server.pid)));
    const run = async (label: string) => {
      const sampler = rssSampler({ server: server.pid });
      const t0 = performance.now();
      const result = await client.submitSweep(body);
      const seconds = (performance.now() - t0) / 1000;
      const peak = sampler.stop().server!;
      fig(label, `${seconds.toFixed(1)} s, ${result.created.toLocaleString('en')} created, ${result.existing.toLocaleString('en')} existing; server RSS peak ${mib(peak)} (load ${load()})`);
    };
    await run('first submit');
    await run('the same again');
  } finally {
    await server.stop();
  }
}
