// Secrets through the API: set (201), replaced (200), listed by name and dates, removed;
// stored encrypted (the database holds no value, and another key cannot open it); the log
// holds names only. A task's env refers to secrets by name: an unknown one is refused at
// submission, in a bulk, a sweep and an edit, naming the variable, and nothing is recorded.
// A server whose key differs from the one that sealed the database's secrets does not start.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { http, refusedField, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { API_PREFIX } from '../../shared/api.js';
import { startServer } from '../server.js';
import { loadSecretBox, secretKeyFile } from '../secrets/secretBox.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const VALUE = `sk-${randomBytes(12).toString('hex')}`;
const count = async (query: ReturnType<typeof sql.unsafe>) => Number(await ts.server.pool.oneFirst(query));

const refused = (method: string, path: string, body: unknown, field: string, reason: RegExp) =>
  refusedField(ts, method, `${API_PREFIX}${path}`, body, field, reason);

test('set, replace, list and remove: the value is sealed, never answered, never in the log', async () => {
  const created = await http(ts, 'PUT', `${API_PREFIX}/secrets/ncbi-key`, { value: 'first' });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.json, { name: 'ncbi-key', created: true });
  const replaced = await http(ts, 'PUT', `${API_PREFIX}/secrets/ncbi-key`, { value: VALUE });
  assert.equal(replaced.status, 200, replaced.text);
  assert.deepEqual(replaced.json, { name: 'ncbi-key', created: false });

  const { items } = await ts.client.listSecrets();
  assert.deepEqual(items.map((s) => Object.keys(s).sort()), [['created_at', 'name', 'updated_at']]);
  assert.equal(items[0]!.name, 'ncbi-key');

  const row = await ts.server.pool.one(sql.unsafe`SELECT ciphertext, key_id, version FROM secrets WHERE name = 'ncbi-key'`);
  assert.ok(!Buffer.from(row.ciphertext as Buffer).toString('latin1').includes(VALUE), 'stored encrypted');
  assert.equal(row.key_id, ts.server.secrets.keyId);
  assert.equal(row.version, 2);
  // The log is read commit-safely: an event shows once older transactions of the cluster have ended.
  const events = await until('the secret events', async () => {
    const { items } = await ts.client.listEvents({ stream_type: ['secret'] });
    return items.length >= 2 && items;
  });
  assert.deepEqual(events.map((e) => [e.type, e.data]), [
    ['secret.set', { name: 'ncbi-key', replaced: false }], ['secret.set', { name: 'ncbi-key', replaced: true }],
  ]);
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM events WHERE data::text LIKE ${'%' + VALUE + '%'} OR meta::text LIKE ${'%' + VALUE + '%'}`), 0);

  // Refusals name the field and write nothing.
  await refused('PUT', '/secrets/bad%20name', { value: 'x' }, 'name', /secret name/);
  await refused('PUT', '/secrets/ok', { value: '' }, 'value', /empty/);
  await refused('PUT', '/secrets/ok', { value: 'x', note: 'y' }, 'note', /unknown field/);

  await ts.client.putSecret('short-lived', 'x');
  const { tasks: [user] } = await ts.client.submitTasks({ command: 'true', env: { TOKEN: { secret: 'short-lived' } }, held: true });
  const yearly = { cron: '0 2 1 1 *', enabled: false };
  await ts.client.call('createSchedule', { body: { ...yearly, name: 'uses-it', submit: { tasks: [{ command: 'true' }, { command: 'fetch', env: { TOKEN: { secret: 'short-lived' } } }] } } });
  await ts.client.call('createSchedule', { body: { ...yearly, name: 'sweeps-with-it', submit: { sweep: { template: { command: 'fetch {n}', env: { TOKEN: { secret: 'short-lived' } } }, parameters: { n: [1, 2] } } } } });
  await ts.client.call('createSchedule', { body: { ...yearly, name: 'plain', submit: { tasks: [{ command: 'true', env: { TOKEN: 'short-lived' } }] } } });
  assert.deepEqual(await ts.client.removeSecret('short-lived'), { name: 'short-lived', unfinished_tasks: 1, schedules: ['sweeps-with-it', 'uses-it'] });
  const removed = await until('the secret.removed event', async () => {
    const { items } = await ts.client.listEvents({ type: ['secret.removed'] });
    return items.length > 0 && items;
  });
  assert.deepEqual(removed.map((e) => e.data), [{ name: 'short-lived' }]);
  const gone = await http(ts, 'DELETE', `${API_PREFIX}/secrets/short-lived`);
  assert.equal(gone.status, 404, gone.text);
  // Set again: a new stream, and the task that refers to it finds it.
  assert.equal((await ts.client.putSecret('short-lived', 'y')).created, true);
  assert.deepEqual((await ts.client.getTask(user!.id)).env, { TOKEN: { secret: 'short-lived' } });
});

test('a task refers to a secret by name: the reference is kept, an unknown name is refused naming the variable', async () => {
  await ts.client.putSecret('api', VALUE);
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'true', env: { API_KEY: { secret: 'api' }, PLAIN: 'v' } });
  const task = await ts.client.getTask(t!.id);
  assert.deepEqual(task.env, { API_KEY: { secret: 'api' }, PLAIN: 'v' });
  const [submitted] = (await ts.client.taskEvents(t!.id)).items;
  assert.deepEqual(submitted!.data.env, { API_KEY: { secret: 'api' }, PLAIN: 'v' });

  await refused('POST', '/tasks', { command: 'true', env: { API_KEY: { secret: 'nope' } } }, 'env.API_KEY', /secret "nope" does not exist/);
  await refused('POST', '/tasks', { tasks: [{ command: 'true' }, { command: 'true', env: { A: { secret: 'api' }, B: { secret: 'nope' } } }] },
    'tasks[1].env.B', /"nope" does not exist/);
  await refused('POST', '/tasks', { command: 'true', env: { API_KEY: { secret: 'api', value: 'x' } } }, 'env.API_KEY.value', /unknown field/);
  await refused('POST', '/sweeps', { template: { command: 'run {n}', env: { KEY: { secret: 'nope' } } }, parameters: { n: [1, 2] } },
    'template.env.KEY', /"nope" does not exist/);
  await refused('PATCH', `/tasks/${t!.id}`, { set: { env: { API_KEY: { secret: 'nope' } } } }, 'set.env.API_KEY', /does not exist/);

  // A sweep's tasks all refer to the same secret; its placeholders stay in plain values.
  const sweep = await ts.client.submitSweep({ template: { command: 'run {n}', env: { KEY: { secret: 'api' }, N: 'n={n}' } }, parameters: { n: [1, 2] } });
  const swept = await ts.client.getTask(sweep.ids[1]!);
  assert.deepEqual(swept.env, { KEY: { secret: 'api' }, N: 'n=2', n: '2' });
  // An edit may point a task at another secret.
  await ts.client.putSecret('api-2', 'other');
  const edited = await ts.client.call('editTask', { params: { id: t!.id }, body: { set: { env: { API_KEY: { secret: 'api-2' } } } } });
  assert.equal(edited.changed, 1);
  assert.deepEqual((await ts.client.getTask(t!.id)).env, { API_KEY: { secret: 'api-2' } });
});

test('the key: a file made 0600 in the data directory; a server with another key refuses to start; a key of the wrong size is refused', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'labq-key-'));
  const box = await loadSecretBox({ dataDir });
  assert.equal((await stat(secretKeyFile(dataDir))).mode & 0o777, 0o600);
  assert.equal((await loadSecretBox({ dataDir })).keyId, box.keyId, 'the same file at the next start');

  // ts holds secrets sealed with the test key: a server with the data directory's key must not start on its database.
  await assert.rejects(startServer({ databaseUrl: ts.databaseUrl, host: '127.0.0.1', port: 0, dataDir, log: () => undefined }),
    /sealed with key [0-9a-f]{16}, and this server's key is [0-9a-f]{16} .*same key/);
  await assert.rejects(loadSecretBox({ given: Buffer.alloc(16).toString('base64') }), /LABQ_SECRET_KEY must hold the base64 of 32 random bytes/);
  // Without any key, a server starts only on a database without secrets, and refuses to set one (503).
  const bare = await startTestServer({ secretKey: '' });
  try {
    const answer = await http({ ...ts, url: bare.url, token: bare.token }, 'PUT', `${API_PREFIX}/secrets/x`, { value: 'v' });
    assert.equal(answer.status, 503, answer.text);
    assert.match(answer.json.detail, /no key for secrets/);
  } finally {
    await bare.close();
  }
});
