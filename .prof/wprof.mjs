import { freshDatabase } from '../dist/e2e/support/db.js';
import { startLabqServer, tempDir } from '../dist/bench/procs.js';
import { LabqClient } from '../dist/shared/client.js';
import { spawn } from 'node:child_process';
const url = await freshDatabase();
const server = await startLabqServer(url);
const client = new LabqClient({ server: server.url, token: server.token });
const stateDir = await tempDir('wprof-');
const w = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/wprof', 'dist/cli/main.js', 'worker', '--server', server.url, '--token', server.token, '--name', 'wp', '--concurrency', '24', '--docker', 'off', '--state-dir', stateDir], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LABQ_DATA_DIR: stateDir } });
w.stderr.resume();
await new Promise(r => setTimeout(r, 2000));
const N = 2000;
const t0 = performance.now();
await client.submitTasks({ tasks: Array.from({ length: N }, () => ({ command: 'true' })) });
for (;;) {
  const n = await (async () => { const r = await fetch(`${server.url}/api/v1/tasks?status=pending,assigned,downloading,running,uploading&limit=1`, { headers: { authorization: `Bearer ${server.token}` } }); const j = await r.json(); return j.items.length; })();
  if (n === 0) break; await new Promise(r => setTimeout(r, 200)); }
console.log('tasks/s', (N / ((performance.now() - t0) / 1000)).toFixed(1));
w.kill('SIGINT'); await new Promise(r => w.on('exit', r));
await server.stop();
