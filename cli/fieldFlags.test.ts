// A field the API refuses is named by the flag that set it: a task's fields in `task submit`,
// a variable of --env, a change of `task edit` by its own flag or by --set, a criterion of
// `task list`, a setting of `workers set`; a body from a file keeps the API's names.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI } from '../e2e/support/worker.js';
import { startTestServer, type TestServer } from '../e2e/support/server.js';
import { registerWorker } from '../e2e/support/workerApi.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

function labq(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, ...args], (error, _stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }));
  });
}

test('refused fields are named by the flags typed', async (t) => {
  const submitted = await labq(['task', 'submit', '-p', '5000', '-e', '1BAD=x', '--', 'echo']);
  assert.equal(submitted.code, 1);
  assert.match(submitted.stderr, /^labq: 400 Invalid request\n/);
  assert.match(submitted.stderr, /\n {2}--priority: Too big/);
  assert.match(submitted.stderr, /\n {2}--env\/--secret-env 1BAD: /);

  const { id } = (await ts.client.submitTasks({ command: 'echo', held: true })).tasks[0]!;
  const byFlag = await labq(['task', 'edit', String(id), '--new-tag', 'high mem']);
  assert.match(byFlag.stderr, /^labq: 400 Invalid request\n {2}--new-tag: a tag is/);
  const bySet = await labq(['task', 'edit', String(id), '--set', 'tag=high mem']);
  assert.match(bySet.stderr, /^labq: 400 Invalid request\n {2}--set tag: a tag is/);
  const listed = await labq(['task', 'list', '--worker', '0']);
  assert.match(listed.stderr, /^labq: 400 Invalid request\n {2}--worker: /);
  const worker = await registerWorker(ts, { name: 'flags', tags: ['a'] });
  const tagged = await labq(['workers', 'set', String(worker.id), '--tags', 'a,high mem']);
  assert.match(tagged.stderr, /^labq: 400 Invalid request\n {2}--tags \[1\]: a tag is/);
  assert.deepEqual((await ts.client.getWorker(worker.id)).tags, ['a'], 'refused, it changes nothing');

  const dir = await mkdtemp(join(tmpdir(), 'labq-field-flags-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'task.json');
  await writeFile(file, JSON.stringify({ command: 'echo', priority: 5000 }));
  assert.match((await labq(['task', 'submit', '-f', file])).stderr, /^labq: 400 Invalid request\n {2}priority: Too big/);
});
