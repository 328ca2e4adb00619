// `labq secret set|list|rm` against a test server: the value comes from stdin (one final line
// break dropped) and is never printed; a task submitted with --secret-env refers to it by name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { CLI } from '../e2e/support/worker.js';
import { startTestServer, type TestServer } from '../e2e/support/server.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

/** Runs the CLI with `input` on its stdin; its exit code, stdout and stderr. */
function labq(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, ...args], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    child.stdin!.end(input);
  });
}

test('set from stdin, replace, list, refer to it, remove with a warning', async () => {
  const value = 'sk-cli-0123456789';
  assert.deepEqual(await labq(['secret', 'set', 'cli-key'], `${value}\n`), { code: 0, stdout: 'secret cli-key set\n', stderr: '' });
  assert.equal((await labq(['secret', 'set', 'cli-key'], `${value}-2\r\n`)).stdout, 'secret cli-key replaced\n');
  const listed = await labq(['secret', 'list']);
  assert.match(listed.stdout, /^NAME +CREATED_AT +UPDATED_AT\ncli-key /);
  assert.ok(!listed.stdout.includes(value));

  const submitted = await labq(['--json', 'task', 'submit', '--secret-env', 'API_KEY=cli-key', '-e', 'PLAIN=1', '--held', '--', 'echo', '$API_KEY']);
  assert.equal(submitted.code, 0, submitted.stderr);
  const [task] = JSON.parse(submitted.stdout).tasks;
  assert.deepEqual((await ts.client.getTask(task.id)).env, { API_KEY: { secret: 'cli-key' }, PLAIN: '1' });

  await ts.client.call('createSchedule', { body: { name: 'nightly-fetch', cron: '0 2 1 1 *', enabled: false, submit: { tasks: [{ command: 'fetch', env: { K: { secret: 'cli-key' } } }] } } });
  const removed = await labq(['secret', 'rm', 'cli-key']);
  assert.equal(removed.stdout, 'secret cli-key removed\nwarning: 1 unfinished task(s) refer to it: they will be refused\n'
    + 'warning: schedule(s) nightly-fetch refer to it: their runs will fail until it is set again\n');
  const empty = await labq(['secret', 'set', 'other'], '\n');
  assert.deepEqual([empty.code, empty.stderr], [1, 'labq: the value is empty: nothing set\n']);
  const unknown = await labq(['task', 'submit', '--secret-env', 'K=cli-key', '--', 'true']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /--secret-env K: secret "cli-key" does not exist/, "named by the flag typed, not the API field env.K");
});
