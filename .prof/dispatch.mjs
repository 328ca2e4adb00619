import { startTestServer } from '../dist/e2e/support/server.js';
import { startTestWorker, taskEnded } from '../dist/e2e/support/worker.js';
import { LabqClient } from '../dist/shared/client.js';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const ts = await startTestServer();
let received = 0;
const orig = LabqClient.prototype.pollWorker;
LabqClient.prototype.pollWorker = async function (id, body, signal) {
  const r = await orig.call(this, id, body, signal);
  if (r.assignments.length) received = performance.timeOrigin + performance.now();
  return r;
};
const w = await startTestWorker(ts, { concurrency: 4, tags: ['d'] });
const dir = await mkdtemp(join(tmpdir(), 'disp-'));
const rows = [];
for (let i = 0; i < 40; i++) {
  await new Promise(r => setTimeout(r, 100));
  const f = join(dir, `t${i}`);
  const t0 = performance.timeOrigin + performance.now();
  const { tasks: [t] } = await ts.client.submitTasks({ command: `date +%s%N > ${f}`, tag: 'd' });
  const t1 = performance.timeOrigin + performance.now();
  await taskEnded(ts, t.id);
  const started = Number(BigInt((await readFile(f, 'utf8')).trim()) / 1000n) / 1000;
  rows.push([t1 - t0, received - t1, started - received, started - t0]);
}
const med = k => rows.map(r => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)].toFixed(1);
console.log(`submit ${med(0)} ms; submit-response→assignment at worker ${med(1)} ms; assignment→process start ${med(2)} ms; total ${med(3)} ms`);
await w.stop(); await ts.close();
