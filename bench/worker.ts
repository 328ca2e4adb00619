// Prints worker figures: end-to-end throughput of 5,000 bare `true` tasks with 2 workers,
// dispatch latency (submit to process start) with idle workers parked in their long
// poll, and output latency (a line printed to the moment an SSE client receives it).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'slonik';
import { WorkerDaemon } from '../worker/daemon.js';
import { percentile, report, startBench, type Bench } from './support.js';

const stateDirs: string[] = [];

async function worker(bench: Bench, name: string, concurrency: number): Promise<WorkerDaemon> {
  const stateDir = await mkdtemp(join(tmpdir(), 'labq-bench-worker-'));
  stateDirs.push(stateDir);
  const daemon = new WorkerDaemon({ server: bench.server.url, token: bench.token, name, concurrency, docker: 'off', stateDir, log: () => undefined });
  await daemon.start();
  return daemon;
}

async function waitAll(bench: Bench, tag: string, total: number): Promise<void> {
  while ((await countDone(bench, tag)) < total) await new Promise((r) => setTimeout(r, 200));
}

async function countDone(bench: Bench, tag: string): Promise<number> {
  return Number(await bench.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM tasks WHERE tag = ${tag} AND status IN ('succeeded', 'failed')`));
}


const bench = await startBench();
const workers: WorkerDaemon[] = [];
try {
  const concurrency = Number(process.env.LABQ_BENCH_CONCURRENCY ?? 4);
  workers.push(await worker(bench, 'bench-1', concurrency), await worker(bench, 'bench-2', concurrency));

  const total = Number(process.env.LABQ_BENCH_TASKS ?? 5000);
  const t0 = performance.now();
  await bench.client.submitTasks({ tasks: Array.from({ length: total }, () => ({ command: 'true', tag: 'default' })) });
  await waitAll(bench, 'default', total);
  const seconds = (performance.now() - t0) / 1000;
  report(`throughput: ${total} bare true tasks, 2 workers × ${concurrency}`, total / seconds, 'tasks/s');

  const latencies: number[] = [];
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const submitted = Date.now();
    const { tasks: [t] } = await bench.client.submitTasks({ command: 'date +%s%N', tag: 'default' });
    for (;;) {
      const task = await bench.client.getTask(t!.id);
      if (task.status === 'succeeded') {
        const started = Number((await bench.client.executionOutput(task.execution_id!)).trim()) / 1e6;
        latencies.push(started - submitted);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  latencies.sort((a, b) => a - b);
  for (const p of [50, 95, 99]) report(`dispatch latency p${p} (submit → process start)`, percentile(latencies, p), 'ms');

  const { tasks: [t] } = await bench.client.submitTasks({ command: 'for i in $(seq 1 60); do date +%s%N; sleep 0.1; done', tag: 'default' });
  let execution: number | null = null;
  while (execution === null) {
    execution = (await bench.client.getTask(t!.id)).execution_id;
    await new Promise((r) => setTimeout(r, 20));
  }
  const outputLatencies: number[] = [];
  for await (const m of bench.client.stream('executionOutput', { params: { id: execution }, query: { follow: '1' } })) {
    if (m.event === 'end') break;
    const received = performance.timeOrigin + performance.now();
    for (const line of JSON.parse(m.data).text.split('\n').filter(Boolean)) outputLatencies.push(received - Number(line) / 1e6);
  }
  outputLatencies.sort((a, b) => a - b);
  for (const p of [50, 95, 99]) report(`output latency p${p} (printed → SSE client)`, percentile(outputLatencies, p), 'ms');
} finally {
  for (const w of workers) await w.stop();
  await bench.stop();
  for (const dir of stateDirs) await rm(dir, { recursive: true, force: true });
}
