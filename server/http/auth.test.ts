// Bearer-token authentication: /healthz is open, every route of the contract refuses a
// request without a valid token (401 problem+json with WWW-Authenticate) and changes
// nothing; tokens are stored only as SHA-256 hashes and never reach the event log; every
// event written through the API records who (token name), which request and from where.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { API_PREFIX, routes, type RouteSpec } from '../../shared/api.js';
import { createToken } from '../auth/tokens.js';
import { TOKENS_CHANNEL } from '../listen/hub.js';

let ts: TestServer;
let db: pg.Client;
let tokenName: string;
let workflowId: number;
let stepId: number;
let taskId: number;
let workerId: number;
let workerInstance: string;
let executionId: number;
/** Held tasks to kill, one per killTask request: a task can be cancelled only once. */
const killable: number[] = [];
/** Tasks for the one-task steering routes, one per request (refused ones included): each changes its task once. */
const steerable: Record<string, number[]> = { hold: [], release: [], relaunch: [], cancel: [], edit: [] };
/** Users and tokens to remove or revoke, one per request (refused ones included). */
const removable: string[] = [];
const revocable: string[] = [];

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

before(async () => {
  ts = await startTestServer();
  db = new pg.Client({ connectionString: ts.databaseUrl });
  await db.connect();
  const { rows } = await db.query('SELECT name FROM api_tokens WHERE token_hash = $1', [sha256(ts.token)]);
  assert.equal(rows.length, 1, 'the test token is found by its SHA-256');
  tokenName = rows[0].name;
  // Before the worker below registers: it never polls, and the reaper would mark it absent
  // (writing events) if the setup took long after it.
  for (let i = 0; i < 16; i++) {
    removable.push((await ts.client.createUser({ name: `auth-rm-${i}`, role: 'viewer', password: 'long enough password' })).name);
    revocable.push((await ts.client.createToken({ name: `auth-revoke-${i}`, role: 'viewer' })).name);
  }
  await ts.client.createUser({ name: 'auth-user', role: 'viewer', password: 'long enough password' });
  workflowId = (await ts.client.createWorkflow({ name: 'auth' })).id;
  stepId = (await ts.client.createStep({ workflow_id: workflowId, name: 'auth step' })).id;
  taskId = (await ts.client.submitTasks({ command: 'echo auth', step_id: stepId, tag: 'auth' })).tasks[0]!.id;
  const worker = await ts.client.registerWorker({ name: 'auth-worker', instance: randomUUID(), hostname: 'h', cpus: 1, memory_mb: 100, docker: false, tags: ['auth'] });
  workerId = worker.id;
  workerInstance = worker.instance!;
  executionId = (await ts.client.pollWorker(workerId, { instance: worker.instance!, holding: [], want: 1, wait_seconds: 0 })).assignments[0]!.execution_id;
  const held = await ts.client.submitTasks({ tasks: Array.from({ length: 40 }, () => ({ command: 'true', held: true })) });
  killable.push(...held.tasks.map((t) => t.id));
  const submit = async (held: boolean) => (await ts.client.submitTasks({ tasks: Array.from({ length: 16 }, () => ({ command: 'true', tag: 'nobody', held })) })).tasks.map((t) => t.id);
  steerable.hold = await submit(false);
  steerable.cancel = await submit(false);
  steerable.edit = await submit(false);
  steerable.release = await submit(true);
  steerable.relaunch = await submit(true);
  await ts.client.call('cancelTasks', { body: { filter: { ids: steerable.relaunch } } });
});

after(async () => {
  await db?.end();
  await ts?.close();
});

const eventCount = async () => Number((await db.query('SELECT count(*) FROM events')).rows[0].count);

/** The route's path with its ids filled in with ids of rows that exist. */
function concretePath(spec: RouteSpec): string {
  const steered = spec.path.match(/^\/tasks\/:id\/(hold|release|relaunch|cancel)$/)?.[1] ?? (spec.method === 'patch' && spec.path === '/tasks/:id' ? 'edit' : null);
  if (spec.path === '/users/:name') return `${API_PREFIX}/users/${spec.method === 'delete' ? removable.pop() : 'auth-user'}`;
  if (spec.path === '/tokens/:name') return `${API_PREFIX}/tokens/${revocable.pop()}`;
  const id = spec.path.endsWith('/kill')
    ? killable.pop()!
    : steered ? steerable[steered]!.pop()!
    : spec.path.startsWith('/tasks') ? taskId
    : spec.path.startsWith('/steps') ? stepId
    : spec.path.startsWith('/workflows') ? workflowId
    : spec.path.startsWith('/workers') ? workerId
    : spec.path.startsWith('/executions') ? executionId
    : 1;
  return API_PREFIX + spec.path.replace(/:(\w+)/g, String(id));
}

let bodies = 0;

/** A body the route would accept, so that the token is the only thing wrong. */
function validBody(name: string): unknown {
  switch (name) {
    case 'submitTasks':
      return { command: 'echo unauthenticated' };
    case 'submitSweep':
      return { template: { command: 'echo {n}' }, parameters: { n: [++bodies] } };
    case 'createWorkflow':
      return { name: 'unauthenticated' };
    case 'createStep':
      return { workflow_id: workflowId, name: `unauthenticated ${++bodies}` };
    case 'registerWorker':
      return { name: `unauthenticated-${++bodies}`, instance: randomUUID(), hostname: 'h', cpus: 1, memory_mb: 100, docker: false };
    case 'updateWorker':
      return { concurrency: 1 };
    case 'pollWorker':
      return { instance: workerInstance, holding: [executionId], want: 0, wait_seconds: 0 };
    case 'executionReports':
      return { reports: [{ kind: 'output', stream: 'stdout', seq: ++bodies, data: Buffer.from('x').toString('base64') }] };
    case 'editTask':
      return { set: { priority: ++bodies } };
    // Bulk operations on a task that does not exist: they answer 200, matching nothing.
    case 'editTasks':
      return { filter: { ids: [999_999] }, set: { priority: 1 } };
    case 'holdTasks':
    case 'releaseTasks':
    case 'relaunchTasks':
    case 'cancelTasks':
      return { filter: { ids: [999_999] } };
    case 'createUser':
      return { name: `auth-new-${++bodies}`, role: 'viewer', password: 'long enough password' };
    case 'updateUser':
      return { role: 'viewer' };
    case 'createToken':
      return { name: `auth-new-${++bodies}`, role: 'viewer' };
    case 'pauseQueue':
    case 'resumeQueue':
      return { tag: 'unused' };
    default:
      return {};
  }
}

async function request(spec: RouteSpec, name: string, authorization: string | undefined) {
  const controller = new AbortController();
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  let body: string | undefined;
  if (spec.body) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(validBody(name));
  }
  const timer = setTimeout(() => controller.abort(), 5000);
  try {
    const response = await fetch(ts.url + concretePath(spec), { method: spec.method.toUpperCase(), headers, body, signal: controller.signal });
    const type = response.headers.get('content-type') ?? '';
    // An SSE answer never ends: read the status, then hang up.
    const text = type.startsWith('text/event-stream') ? '' : await response.text();
    controller.abort();
    return { status: response.status, type, text, headers: response.headers };
  } finally {
    clearTimeout(timer);
  }
}

const ROUTES = Object.entries(routes) as [string, RouteSpec][];
/** Every route but the login, the one open to all (server/http/accounts.test.ts tests it). */
const GUARDED = ROUTES.filter(([, spec]) => !spec.public);

test('/healthz is open, with or without a token', async () => {
  for (const headers of [{}, { authorization: 'Bearer nonsense' }] as Record<string, string>[]) {
    const res = await fetch(`${ts.url}/healthz`, { headers });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as { status: string; version: string };
    assert.equal(body.status, 'ok');
    assert.equal(typeof body.version, 'string');
  }
});

describe('every /api/v1 route refuses requests without a valid token', () => {
  const wrong = () => `labq_${randomBytes(32).toString('base64url')}`;
  const variants: [string, () => string | undefined][] = [
    ['no Authorization header', () => undefined],
    ['an empty Authorization header', () => ''],
    ['a Basic header', () => `Basic ${Buffer.from('admin:' + ts.token).toString('base64')}`],
    ['Bearer without a token', () => 'Bearer'],
    ['Bearer and spaces only', () => 'Bearer    '],
    ['the token without the Bearer scheme', () => ts.token],
    ['the token glued to Bearer', () => `Bearer${ts.token}`],
    ['two tokens', () => `Bearer ${ts.token} ${ts.token}`],
    ['a wrong token', () => `Bearer ${wrong()}`],
    ['the token minus its last character', () => `Bearer ${ts.token.slice(0, -1)}`],
    ['the token with different case', () => `Bearer ${ts.token.toUpperCase()}`],
  ];

  for (const [name, spec] of GUARDED) {
    test(`${spec.method.toUpperCase()} ${spec.path} (${name})`, async () => {
      for (const [label, authorization] of variants) {
        const before = await eventCount();
        const res = await request(spec, name, authorization());
        const where = `${label}: ${res.status} ${res.type} ${res.text.slice(0, 300)}`;
        assert.equal(res.status, 401, where);
        assert.match(res.type, /^application\/problem\+json\b/, where);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/i, where);
        const problem = JSON.parse(res.text);
        assert.equal(problem.status, 401, where);
        assert.equal(typeof problem.type, 'string', where);
        assert.equal(typeof problem.title, 'string', where);
        assert.equal(typeof problem.detail, 'string', where);
        assert.ok(!res.text.includes(ts.token), 'the answer must not echo the token');
        assert.equal(await eventCount(), before, `${label}: a refused request wrote events`);
      }
    });
  }

  test('with the token, every route answers (control), the scheme is case-insensitive', async () => {
    // A token has no password of its own to change (409): that route is for sessions.
    for (const [name, spec] of GUARDED.filter(([name]) => name !== 'changeOwnPassword')) {
      for (const authorization of [`Bearer ${ts.token}`, `bearer ${ts.token}`]) {
        const res = await request(spec, name, authorization);
        assert.ok(res.status >= 200 && res.status < 300, `${name} with ${authorization.split(' ')[0]}: ${res.status} ${res.text.slice(0, 300)}`);
      }
    }
  });

  test('unknown paths under /api/v1 answer 401 too, not 404', async () => {
    for (const path of [API_PREFIX, `${API_PREFIX}/`, `${API_PREFIX}/no-such-route`]) {
      const res = await fetch(ts.url + path);
      assert.equal(res.status, 401, path);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/i);
      await res.text();
    }
  });

  test('a revoked token is refused', async () => {
    const name = `revoked-${Date.now()}`;
    const token = await createToken(ts.server.pool, name, 'operator', { actor: 'test', request_id: null, source: null });
    const ok = await http({ ...ts, token }, 'GET', `${API_PREFIX}/tasks`);
    assert.equal(ok.status, 200, ok.text);
    // A row edited by hand is refused from the next request after its notification (which
    // this test's request could otherwise overtake).
    const notified = new Promise<void>((resolve) => {
      const unsubscribe = ts.server.hub.subscribe((channel) => channel === TOKENS_CHANNEL && (unsubscribe(), resolve()));
    });
    await db.query('UPDATE api_tokens SET revoked_at = now() WHERE name = $1', [name]);
    await notified;
    const res = await http({ ...ts, token }, 'GET', `${API_PREFIX}/tasks`);
    assert.equal(res.status, 401, res.text);
    assert.match(res.type, /^application\/problem\+json\b/);
  });
});

describe('tokens are stored only as hashes', () => {
  let extraToken: string;
  let extraName: string;

  before(async () => {
    extraName = `hash-check-${Date.now()}`;
    extraToken = await createToken(ts.server.pool, extraName, 'viewer', { actor: 'test', request_id: 'req-token', source: '127.0.0.1' });
  });

  test('api_tokens holds a 32-byte SHA-256 and never the token text', async () => {
    const { rows } = await db.query('SELECT * FROM api_tokens ORDER BY id');
    assert.ok(rows.length >= 2);
    for (const row of rows) {
      assert.ok(Buffer.isBuffer(row.token_hash), 'token_hash is bytea');
      assert.equal(row.token_hash.length, 32);
    }
    for (const token of [ts.token, extraToken]) {
      const matching = rows.filter((r) => r.token_hash.equals(sha256(token)));
      assert.equal(matching.length, 1, 'exactly one row holds the hash of the token');
      for (const row of rows) {
        for (const [column, value] of Object.entries(row)) {
          const text = Buffer.isBuffer(value) ? [value.toString('utf8'), value.toString('hex'), value.toString('base64')] : [String(value)];
          for (const t of text) {
            assert.notEqual(t, token, `api_tokens.${column} equals the token`);
            assert.ok(!t.includes(token), `api_tokens.${column} contains the token`);
          }
        }
      }
    }
  });

  test('the token.created event holds the name and role, not the token', async () => {
    const { rows } = await db.query(
      "SELECT data, meta, data::text AS data_text, meta::text AS meta_text FROM events WHERE type = 'token.created' AND data->>'name' = $1",
      [extraName],
    );
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].data, { name: extraName, role: 'viewer' });
    assert.equal(rows[0].meta.request_id, 'req-token');
    for (const text of [rows[0].data_text, rows[0].meta_text]) {
      assert.ok(!text.includes(extraToken));
      assert.ok(!text.includes(sha256(extraToken).toString('hex')), 'not even its hash');
    }
  });

  test('no row of any table contains a token', async () => {
    const { rows: tables } = await db.query(
      "SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    assert.ok(tables.some((t) => t.name === 'events'));
    for (const { name } of tables) {
      for (const token of [ts.token, extraToken]) {
        const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${name} AS t WHERE strpos(t::text, $1) > 0`, [token]);
        assert.equal(rows[0].n, 0, `table ${name} contains a token`);
      }
    }
  });
});

describe('events record actor, request id and source', () => {
  async function eventsOf(streamType: string, streamId: number) {
    const { rows } = await db.query('SELECT type, meta FROM events WHERE stream_type = $1 AND stream_id = $2 ORDER BY position', [streamType, streamId]);
    return rows as { type: string; meta: Record<string, unknown> }[];
  }

  function assertSource(meta: Record<string, unknown>) {
    assert.equal(typeof meta.source, 'string');
    assert.ok(isIP(meta.source as string) !== 0, `source ${meta.source} is an IP address`);
    assert.match(meta.source as string, /(^|:)127\.0\.0\.1$|^::1$/, 'the test connects from loopback');
  }

  test('the X-Request-Id sent is echoed and recorded', async () => {
    const requestId = `auth-test-${randomBytes(4).toString('hex')}`;
    const res = await http(ts, 'POST', `${API_PREFIX}/workflows`, { name: 'with request id' }, { 'x-request-id': requestId });
    assert.equal(res.status, 201, res.text);
    const events = await eventsOf('workflow', res.json.id);
    assert.deepEqual(events.map((e) => e.type), ['workflow.created']);
    assert.equal(events[0]!.meta.actor, tokenName);
    assert.equal(events[0]!.meta.request_id, requestId);
    assertSource(events[0]!.meta);
    assert.equal(res.json.created_by, tokenName);

    const echoed = await fetch(`${ts.url}${API_PREFIX}/workflows/${res.json.id}`, {
      headers: { authorization: `Bearer ${ts.token}`, 'x-request-id': requestId },
    });
    await echoed.text();
    assert.equal(echoed.headers.get('x-request-id'), requestId);
  });

  test('without X-Request-Id, a generated id is echoed and recorded on every event of the request', async () => {
    const response = await fetch(`${ts.url}${API_PREFIX}/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ts.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tasks: [{ command: 'echo 1' }, { command: 'echo 2', step_id: stepId }, { command: 'echo 3' }] }),
    });
    const body = (await response.json()) as { tasks: { id: number }[] };
    assert.equal(response.status, 201);
    const generated = response.headers.get('x-request-id') ?? '';
    assert.match(generated, UUID);
    assert.equal(body.tasks.length, 3);
    for (const { id } of body.tasks) {
      const events = await eventsOf('task', id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.meta.actor, tokenName);
      assert.equal(events[0]!.meta.request_id, generated);
      assertSource(events[0]!.meta);
      assert.equal((await ts.client.getTask(id)).submitted_by, tokenName);
    }
  });

  test('an unusable X-Request-Id is replaced by a generated one, which is what gets recorded', async () => {
    for (const bad of ['has spaces; and = signs', 'x'.repeat(101)]) {
      const response = await fetch(`${ts.url}${API_PREFIX}/steps`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ts.token}`, 'content-type': 'application/json', 'x-request-id': bad },
        body: JSON.stringify({ workflow_id: workflowId, name: `step ${bad.length}` }),
      });
      const step = (await response.json()) as { id: number };
      assert.equal(response.status, 201);
      const echoed = response.headers.get('x-request-id') ?? '';
      assert.notEqual(echoed, bad);
      assert.match(echoed, UUID);
      const events = await eventsOf('step', step.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.meta.request_id, echoed);
      assert.equal(events[0]!.meta.actor, tokenName);
      assertSource(events[0]!.meta);
    }
  });

  test('the API shows the same meta on the task events route', async () => {
    const requestId = 'api-view-check';
    const res = await http(ts, 'POST', `${API_PREFIX}/tasks`, { command: 'echo meta' }, { 'x-request-id': requestId });
    assert.equal(res.status, 201, res.text);
    const { items } = await ts.client.taskEvents(res.json.tasks[0].id);
    assert.equal(items.length, 1);
    assert.equal(items[0]!.meta.actor, tokenName);
    assert.equal(items[0]!.meta.request_id, requestId);
    assertSource(items[0]!.meta as Record<string, unknown>);
  });

  test('an error answer carries the request id too', async () => {
    const res = await http(ts, 'GET', `${API_PREFIX}/tasks/999999`, undefined, { 'x-request-id': 'missing-task' });
    assert.equal(res.status, 404);
    assert.equal(res.json.request_id, 'missing-task');
  });
});
