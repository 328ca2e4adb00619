// The token cache with two servers on one database: a token seen lately is answered from
// memory (it works while api_tokens is locked against every reader), a revocation through
// one server is refused by the other as soon as its notification has arrived there, and a LISTEN reconnect, which
// may have missed a revocation, drops what was kept.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { API_PREFIX } from '../../shared/api.js';
import { TOKENS_CHANNEL } from '../listen/hub.js';
import { createToken, revokeToken } from './tokens.js';

let a: TestServer;
let b: TestServer;
let db: pg.Client;

before(async () => {
  a = await startTestServer();
  b = await startTestServer({ databaseUrl: a.databaseUrl });
  db = new pg.Client({ connectionString: a.databaseUrl });
  await db.connect();
});
after(async () => {
  await db.end();
  await b.close();
  await a.close();
});

const meta = { actor: 'test', request_id: null, source: null };
let serial = 0;

async function newToken(): Promise<{ name: string; token: string }> {
  const name = `cached-${++serial}`;
  return { name, token: await createToken(a.server.pool, name, 'operator', meta) };
}

const get = (ts: TestServer, token: string) => http({ ...ts, token }, 'GET', `${API_PREFIX}/tasks?limit=1`);

test('a token seen lately is checked without the database', async () => {
  const { token } = await newToken();
  assert.equal((await get(b, token)).status, 200);
  const lookups = b.server.tokens.lookups;
  for (let i = 0; i < 20; i++) assert.equal((await get(b, token)).status, 200);
  assert.equal(b.server.tokens.lookups, lookups);
  // Nothing can read api_tokens while this lock is held: a request that looked its token up
  // would hang until the end of the transaction.
  await db.query('BEGIN');
  try {
    await db.query('LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE');
    const answer = await Promise.race([get(b, token), new Promise<null>((r) => setTimeout(() => r(null), 3000))]);
    assert.equal(answer?.status, 200, 'the cached token was answered while api_tokens was locked');
  } finally {
    await db.query('ROLLBACK');
  }
});

test('a token revoked through one server is refused by the other from the next request after the notification', async () => {
  for (let round = 0; round < 5; round++) {
    const { name, token } = await newToken();
    assert.equal((await get(a, token)).status, 200);
    assert.equal((await get(b, token)).status, 200);
    // The notification reaches B a moment after the commit, and this test's request to B may
    // overtake it (one process, one event loop): what is promised is the next request after it.
    // Revoked through the pool, not A's route (which drops A's cache at once): A too hears of it
    // by its own notification, which may come after B's.
    const notified = Promise.all([a, b].map((ts) => new Promise<void>((resolve) => {
      const unsubscribe = ts.server.hub.subscribe((channel) => channel === TOKENS_CHANNEL && (unsubscribe(), resolve()));
    })));
    await revokeToken(a.server.pool, name, meta);
    await notified;
    const refused = await get(b, token);
    assert.equal(refused.status, 401, refused.text);
    assert.equal((await get(a, token)).status, 401);
  }
});

test('unknown tokens are not kept: a token created after a refusal works at once', async () => {
  const token = `labq_${'x'.repeat(43)}`;
  assert.equal((await get(b, token)).status, 401);
  await createToken(a.server.pool, `late-${Date.now()}`, 'viewer', meta, { value: token });
  assert.equal((await get(b, token)).status, 200);
});

test('a LISTEN reconnect drops the tokens kept, since a revocation may have been missed', async () => {
  const { token } = await newToken();
  assert.equal((await get(b, token)).status, 200);
  const lookups = b.server.tokens.lookups;
  await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`);
  await until('a request after the reconnect to look its token up again', async () => {
    assert.equal((await get(b, token)).status, 200);
    return b.server.tokens.lookups > lookups;
  }, 30_000);
});
