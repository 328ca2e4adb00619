// Secrets and isolation with real workers: a secret reaches a bare task's process and a
// Docker task's process (each prints a hash of it, never the value), and the value appears
// nowhere else: not in the event log or the tasks table, not in an API answer (the task, its
// history, the events page, the task list), not in the server's or the worker's logs, not in
// any file of the worker's state directory, looked at while the task runs and after. A bare
// task run by a worker that has AWS_SECRET_ACCESS_KEY and LABQ_TOKEN in its environment sees
// neither. A secret removed while a task refers to it: the worker refuses the execution, naming it.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Dockerode from 'dockerode';
import { sql } from 'slonik';
import { ensureTestImage } from './support/images.js';
import { startTestServer, type TestServer } from './support/server.js';
import { spawnWorker, startTestWorker, taskEnded, until, type WorkerProcess } from './support/worker.js';

const VALUE = `s3cr3t-${randomBytes(16).toString('hex')}`;
const AWS_CANARY = `aws-${randomBytes(16).toString('hex')}`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const docker = new Dockerode();

let ts: TestServer;
let dir: string;
let image: string;
let bareState: string;
let dockerState: string;
let bare: WorkerProcess;
let inDocker: Awaited<ReturnType<typeof startTestWorker>>;

before(async () => {
  await docker.ping().catch((error) => {
    throw new Error(`Docker engine unreachable (${error.message}); run scripts/ensure-docker.sh`);
  });
  image = await ensureTestImage(docker);
  ts = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'labq-secrets-'));
  bareState = join(dir, 'bare-state');
  dockerState = join(dir, 'docker-state');
  await ts.client.putSecret('api-key', VALUE);
  // The Docker task waits on a gate in a folder it mounts.
  await mkdir(join(dir, 'gates'));
  await ts.client.putDockerPolicy({ allowed_mount_prefixes: [join(dir, 'gates')] });
  // The worker's own credentials, as the issue found them leaking into tasks.
  bare = spawnWorker(ts.url, ts.token, ['--name', 'bare', '--tags', 'bare', '--docker', 'off', '--state-dir', bareState],
    { AWS_SECRET_ACCESS_KEY: AWS_CANARY, LABQ_TOKEN: ts.token });
  inDocker = await startTestWorker(ts, { docker: 'on', tags: ['docker'], stateDir: dockerState });
});
after(async () => {
  await writeFile(join(dir, 'gates', 'go'), '').catch(() => undefined);
  bare?.child.kill('SIGTERM');
  await bare?.exited;
  await inDocker?.stop();
  await ts?.close();
});

/** Every file under `root` with its content. */
async function filesUnder(root: string): Promise<Array<{ path: string; text: string }>> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  return Promise.all(files.map(async (path) => ({ path, text: await readFile(path, 'latin1').catch(() => '') })));
}

/** While a task runs, the state directory holds its files (the look is not vacuous); once it ended, it may hold none. */
async function assertNotInStateDir(root: string, running = true) {
  const files = await filesUnder(root);
  if (running) assert.ok(files.length > 0, `${root} holds files`);
  for (const file of files) assert.ok(!file.text.includes(VALUE), `${file.path} holds the secret`);
}

/** The value is nowhere the server, its API or a worker keeps things. */
async function assertNowhere(taskId: number, workerLogs: string) {
  const pool = ts.server.pool;
  const like = '%' + VALUE + '%';
  assert.equal(Number(await pool.oneFirst(sql.unsafe`SELECT count(*) FROM events WHERE data::text LIKE ${like} OR meta::text LIKE ${like}`)), 0, 'events');
  assert.equal(Number(await pool.oneFirst(sql.unsafe`SELECT count(*) FROM tasks WHERE env::text LIKE ${like}`)), 0, 'tasks');
  const answers = [
    await ts.client.getTask(taskId), await ts.client.taskEvents(taskId), await ts.client.listEvents({ limit: 1000 }),
    await ts.client.listTasks({ limit: 1000 }), await ts.client.listSecrets(),
  ];
  for (const answer of answers) assert.ok(!JSON.stringify(answer).includes(VALUE), `an API answer: ${JSON.stringify(answer).slice(0, 200)}`);
  assert.ok(!ts.logs.join('\n').includes(VALUE), 'server log');
  assert.ok(!workerLogs.includes(VALUE), 'worker log');
}

const hashed = `${sha256(VALUE)}  -\n`;

test('a bare task sees its secret and none of the worker\'s variables; the value is nowhere else', async () => {
  const gate = join(dir, 'bare-go');
  const { tasks: [seen, secret] } = await ts.client.submitTasks({
    tasks: [
      { command: 'env', tag: 'bare', env: { MINE: 'mine' } },
      { command: `printf %s "$API_KEY" | sha256sum; while [ ! -e ${gate} ]; do sleep 0.1; done`, tag: 'bare', env: { API_KEY: { secret: 'api-key' } } },
    ],
  });
  assert.equal((await taskEnded(ts, seen!.id)).status, 'succeeded');
  const env = await ts.client.executionOutput((await ts.client.getTask(seen!.id)).execution_id!);
  assert.ok(!env.includes(AWS_CANARY) && !env.includes('AWS_SECRET_ACCESS_KEY'), 'the worker\'s AWS credentials');
  assert.ok(!env.includes(ts.token) && !/^LABQ_TOKEN=/m.test(env), 'the worker\'s token');
  const names = env.split('\n').filter(Boolean).map((line) => line.slice(0, line.indexOf('=')));
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'MINE', 'INPUT', 'OUTPUT', 'TEMP', 'RESOURCE', 'CPU']) assert.ok(names.includes(name), `${name} in ${names}`);
  assert.match(env, /^TMPDIR=.*\/tmp$/m);

  // While it runs: its hash is out, and its folders and command file, all the worker keeps of
  // it (a bare task has no state file), are in the state directory, without the value.
  const x = await until('the secret task to run', async () => (await ts.client.getTask(secret!.id)).execution_id ?? undefined);
  await until('its hash', async () => (await ts.client.executionOutput(x)) === hashed);
  assert.ok((await filesUnder(join(bareState, 'work', String(x)))).some((f) => f.path.endsWith('.labq-command')), 'its command file');
  await assertNotInStateDir(bareState);
  await writeFile(gate, '');
  assert.equal((await taskEnded(ts, secret!.id)).status, 'succeeded');
  await assertNotInStateDir(bareState, false);
  await assertNowhere(secret!.id, bare.output());
});

test('a Docker task sees its secret in its environment; the state kept for re-attaching holds the reference only', async () => {
  const gates = join(dir, 'gates');
  const { tasks: [t] } = await ts.client.submitTasks({
    command: 'printf %s "$API_KEY" | sha256sum; while [ ! -e /gates/go ]; do sleep 0.1; done',
    container: image, container_options: ['-v', `${gates}:/gates`], tag: 'docker', env: { API_KEY: { secret: 'api-key' } },
  });
  const x = await until('the container task to run', async () => (await ts.client.getTask(t!.id)).execution_id ?? undefined);
  await until('its hash', async () => (await ts.client.executionOutput(x)) === hashed);
  const [state] = (await filesUnder(join(dockerState, 'executions'))).filter((f) => f.path.endsWith(`${x}.json`));
  assert.ok(state, 'the execution state is kept while the container runs');
  assert.deepEqual(JSON.parse(state.text).task.env, { API_KEY: { secret: 'api-key' } });
  await assertNotInStateDir(dockerState);
  await writeFile(join(gates, 'go'), '');
  assert.equal((await taskEnded(ts, t!.id)).status, 'succeeded');
  await assertNotInStateDir(dockerState, false);
  await assertNowhere(t!.id, inDocker.logs.join('\n'));
});

test('a secret removed while a task refers to it: the worker refuses the execution, naming the secret, not a value', async () => {
  await ts.client.putSecret('temporary', VALUE);
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'echo "$KEY"', tag: 'bare', env: { KEY: { secret: 'temporary' } }, held: true });
  assert.equal((await ts.client.removeSecret('temporary')).unfinished_tasks, 1);
  await ts.client.call('releaseTask', { params: { id: t!.id }, body: {} });
  const done = await taskEnded(ts, t!.id);
  assert.equal(done.status, 'failed', 'refused is not retried');
  const [x] = (await ts.client.getTask(t!.id)).executions;
  assert.deepEqual([x!.status, x!.failure_class], ['refused', 'refused']);
  assert.equal(x!.error, 'secret "temporary" no longer exists (env.KEY)');
  assert.equal(await ts.client.executionOutput(x!.id), '', 'it never ran');
});
