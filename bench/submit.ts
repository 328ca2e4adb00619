// Prints the bulk submit rate through the HTTP API and the raw event append rate of the
// write path (append + inline projections), single-event and batched, with 8 writers.
import os from 'node:os';
import { sql } from 'slonik';
import { recordEvents } from '../server/events/recordEvents.js';
import { report, startBench } from './support.js';

const bench = await startBench();
try {
  process.stdout.write(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}\n`);
  const rounds = 5;
  const size = 10_000;
  let total = 0;
  const started = performance.now();
  for (let r = 0; r < rounds; r++) {
    const tasks = Array.from({ length: size }, (_, i) => ({
      command: `bwa mem /resource/ref.fa /input/S${r}-${i}.fq > /output/S${i}.sam`,
      inputs: [`s3://runs/S${r}-${i}.fq`], tag: 'default', priority: i % 5, key: `r${r}-${i}`,
    }));
    total += (await bench.client.submitTasks({ tasks })).tasks.length;
  }
  const seconds = (performance.now() - started) / 1000;
  report(`bulk submit (${rounds} requests × ${size} tasks)`, total / seconds, 'tasks/s');

  const meta = { actor: 'bench', request_id: null, source: null };
  const pool = bench.server.pool;
  const appendRun = async (writers: number, perTx: number, transactions: number) => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: writers }, async () => {
      for (let i = 0; i < transactions; i++) {
        await pool.transaction(async (tx) => {
          const ids = (await tx.anyFirst(sql.unsafe`SELECT nextval('workflow_ids') FROM generate_series(1, ${perTx})`)) as number[];
          await recordEvents(tx, ids.map((id) => ({ type: 'workflow.created' as const, streamId: Number(id), version: 1, data: { name: `w${id}`, description: null } })), meta);
        });
      }
    }));
    return (writers * perTx * transactions) / ((performance.now() - t0) / 1000);
  };
  report('event append, 1 event per transaction, 8 writers', await appendRun(8, 1, 250), 'events/s');
  report('event append, 100 events per transaction, 8 writers', await appendRun(8, 100, 20), 'events/s');
  report('event append, 1000 events per transaction, 1 writer', await appendRun(1, 1000, 10), 'events/s');
} finally {
  await bench.stop();
}
