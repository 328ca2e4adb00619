import { freshDatabase } from '../dist/e2e/support/db.js';
import { spawn, execFileSync } from 'node:child_process';
const url = await freshDatabase();
const token = 'labq_' + 'x'.repeat(43);
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/cpuprof', 'dist/cli/main.js', 'server', '--host', '127.0.0.1', '--port', '47123'], {
  env: { ...process.env, DATABASE_URL: url, LABQ_ADMIN_TOKEN: token, LABQ_DATA_DIR: '/tmp/srvprof-data' }, stdio: ['ignore', 'pipe', 'pipe'] });
await new Promise((resolve) => { child.stderr.on('data', (d) => { if (/running at/.test(d)) resolve(); }); child.stdout.on('data', (d) => { if (/running at/.test(d)) resolve(); }); });
const r = [];
for (let i = 0; i < 300; i++) {
  const t = Number(execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{time_starttransfer}', '-H', `authorization: Bearer ${token}`, '-H', 'content-type: application/json', '-d', '{"command":"true","tag":"zz"}', 'http://127.0.0.1:47123/api/v1/tasks']).toString()) * 1000;
  r.push(t);
}
r.sort((a, b) => a - b); console.log('POST p50', r[150].toFixed(2));
child.kill('SIGINT'); await new Promise((res) => child.on('exit', res));
