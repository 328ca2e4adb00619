// The long-running commands outlive a promise rejected where nobody awaits it: a real node
// process installs the handlers of `labq up`/`labq worker`, lets a rejection go unhandled,
// and must still be serving afterwards.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SIGNALS = new URL('./signals.js', import.meta.url).href;

test('an unhandled rejection is logged and the process keeps serving', async () => {
  const script = `
    const { onStopSignal } = await import(${JSON.stringify(SIGNALS)});
    onStopSignal(async () => {});
    Promise.reject(new Error('the kill failed'));
    setTimeout(() => { process.stdout.write('still serving'); process.exit(0); }, 200);
  `;
  const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(stdout, 'still serving');
  assert.match(stderr, /labq: an unhandled error, kept running: Error: the kill failed/);
});
