// Bearer-token authentication: /healthz is open, every route of the contract refuses a
// request without a valid token (401 problem+json with WWW-Authenticate) and changes
// nothing; tokens are stored only as SHA-256 hashes and never reach the event log; every
// event written through the API records who (token name), which request and from where.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { until } from '../../e2e/support/worker.js';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { callRoute, routeFixtures, ROUTES, type RouteFixtures } from '../../e2e/support/routeCalls.js';
import { API_PREFIX, type RouteSpec } from '../../shared/api.js';
import { createToken } from '../auth/tokens.js';

let ts: TestServer;
let db: pg.Client;
let tokenName: string;
let f: RouteFixtures;

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

before(async () => {
  // A lease that outlasts the file: the worker's execution stays live however slowly the routes are called.
  ts = await startTestServer({ settings: { leaseSeconds: 600, offlineAfterSeconds: 600 } });
  db = new pg.Client({ connectionString: ts.databaseUrl });
  await db.connect();
  const { rows } = await db.query('SELECT name FROM api_tokens WHERE token_hash = $1', [sha256(ts.token)]);
  assert.equal(rows.length, 1, 'the test token is found by its SHA-256');
  tokenName = rows[0].name;
  f = await routeFixtures(ts);
});

after(async () => {
  await db?.end();
  await ts?.close();
});

const eventCount = async () => Number((await db.query('SELECT count(*) FROM events')).rows[0].count);
const request = (spec: RouteSpec, name: string, authorization: string | undefined) => callRoute(ts, f, name, spec, authorization);

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

  // The login is open to all (server/http/accounts.test.ts tests it).
  for (const [name, spec] of ROUTES.filter(([, route]) => !route.public)) {
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
    // A token has no password of its own: changeOwnPassword answers it 409 (server/http/accounts.test.ts).
    for (const [name, spec] of ROUTES.filter(([route]) => route !== 'changeOwnPassword')) {
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
    await db.query('UPDATE api_tokens SET revoked_at = now() WHERE name = $1', [name]);
    // The server drops its cached tokens when the revocation's notification arrives, a moment after the commit.
    const res = await until('the revocation reaches the server', async () => {
      const answer = await http({ ...ts, token }, 'GET', `${API_PREFIX}/tasks`);
      return answer.status !== 200 && answer;
    });
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
      body: JSON.stringify({ tasks: [{ command: 'echo 1' }, { command: 'echo 2', step_id: f.stepId }, { command: 'echo 3' }] }),
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
        body: JSON.stringify({ workflow_id: f.workflowId, name: `step ${bad.length}` }),
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
