// server in its own process on the test cluster's fresh database; worker in this process.
import { freshDatabase } from '../dist/e2e/support/db.js';
import { startLabqServer } from '../dist/bench/procs.js';
import { WorkerDaemon } from '../dist/worker/daemon.js';
import { LabqClient } from '../dist/shared/client.js';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const url = await freshDatabase();
const server = await startLabqServer(url);
const client = new LabqClient({ server: server.url, token: server.token });
let received = 0;
const orig = LabqClient.prototype.pollWorker;
LabqClient.prototype.pollWorker = async function (id, body, signal) {
  const r = await orig.call(this, id, body, signal);
  if (r.assignments.length) { received = performance.timeOrigin + performance.now(); globalThis.__recv = received; }
  return r;
};
const w = new WorkerDaemon({ server: server.url, token: server.token, name: 'd1', stateDir: await mkdtemp(join(tmpdir(), 'dw-')), docker: 'off', concurrency: 4, tags: ['d'], log: () => {} });
await w.start();
const dir = await mkdtemp(join(tmpdir(), 'disp-'));
const rows = [];
const wait = async (f) => { for (;;) { try { const s = (await readFile(f, 'utf8')).trim(); if (s) return s; } catch {} await new Promise(r => setTimeout(r, 5)); } };
for (let i = 0; i < 60; i++) {
  await new Promise(r => setTimeout(r, 100));
  const f = join(dir, `t${i}`);
  const t0 = performance.timeOrigin + performance.now();
  await client.submitTasks({ command: `date +%s%N > ${f}`, tag: 'd' });
  const t1 = performance.timeOrigin + performance.now();
  const started = Number(BigInt(await wait(f)) / 1000n) / 1000;
  rows.push([t1 - t0, received - t1, started - received, started - t0]);
}
const med = k => rows.map(r => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)].toFixed(1);
console.log(`submit ${med(0)} ms; submit-response→assignment at worker ${med(1)} ms; assignment→process start ${med(2)} ms; total ${med(3)} ms`);
await w.stop(); await server.stop();
