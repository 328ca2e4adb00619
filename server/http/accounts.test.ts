// Accounts end to end, on three servers sharing one database (c trusts a reverse proxy's
// X-Forwarded-* headers): login sets an HttpOnly, SameSite=Strict cookie (Secure when the
// client came over HTTPS), requests through the cookie act as the user and need the CSRF
// token for changes, logout and user removal end sessions at once, an unknown name and a
// wrong password get the same 401, failed logins are limited per name and per address
// across servers, tokens expire and are revoked at once, and no password or hash ever
// appears in an answer, an event or a log line.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { API_PREFIX } from '../../shared/api.js';
import { createToken } from '../auth/tokens.js';
import { MAX_PER_ADDRESS, MAX_PER_NAME } from '../auth/loginLimit.js';
import { TOKENS_CHANNEL } from '../listen/hub.js';

let a: TestServer;
let b: TestServer;
let c: TestServer;
let db: pg.Client;
/** Every answer body the test received, searched at the end for passwords and hashes. */
const answers: string[] = [];
const passwords: string[] = [];

before(async () => {
  a = await startTestServer();
  b = await startTestServer({ databaseUrl: a.databaseUrl });
  c = await startTestServer({ databaseUrl: a.databaseUrl, trustProxy: true });
  db = new pg.Client({ connectionString: a.databaseUrl });
  await db.connect();
});
after(async () => {
  await db?.end();
  for (const ts of [c, b, a]) await ts?.close();
});

interface Answer {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

async function call(ts: TestServer, method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const response = await fetch(ts.url + API_PREFIX + path, {
    method,
    headers: { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  answers.push(text, JSON.stringify([...response.headers]));
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, json, text, headers: response.headers };
}

const asAdmin = (ts: TestServer, method: string, path: string, body?: unknown) =>
  call(ts, method, path, { body, headers: { authorization: `Bearer ${ts.token}` } });

let serial = 0;
async function newUser(role = 'operator'): Promise<{ name: string; password: string }> {
  const name = `user-${++serial}`;
  const password = `correct horse ${serial} battery staple`;
  passwords.push(password);
  const created = await asAdmin(a, 'POST', '/users', { name, role, password });
  assert.equal(created.status, 201, created.text);
  return { name, password };
}

interface Session {
  cookie: string;
  csrf: string;
  setCookie: string;
}

async function login(ts: TestServer, name: string, password: string, headers: Record<string, string> = {}): Promise<Answer & { session?: Session }> {
  const answer = await call(ts, 'POST', '/auth/login', { body: { name, password }, headers });
  const setCookie = answer.headers.get('set-cookie') ?? '';
  const cookie = /^labq_session=([^;]+)/.exec(setCookie)?.[1];
  return { ...answer, session: cookie ? { cookie, csrf: answer.json.csrf_token, setCookie } : undefined };
}

async function loggedIn(ts: TestServer, user: { name: string; password: string }): Promise<Session> {
  const answer = await login(ts, user.name, user.password);
  assert.equal(answer.status, 200, answer.text);
  return answer.session!;
}

function withSession(ts: TestServer, session: Session, method: string, path: string, body?: unknown, csrf: string | null = session.csrf) {
  return call(ts, method, path, {
    body,
    headers: { cookie: `labq_session=${session.cookie}`, ...(csrf !== null ? { 'x-csrf-token': csrf } : {}) },
  });
}

const eventCount = async () => Number((await db.query('SELECT count(*) FROM events')).rows[0].count);

describe('sessions', () => {
  test('login sets an HttpOnly, SameSite=Strict cookie for the path /, Secure only over HTTPS', async () => {
    const user = await newUser();
    const answer = await login(a, user.name, user.password);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(Object.keys(answer.json).sort(), ['csrf_token', 'expires_at', 'name', 'role']);
    assert.equal(answer.json.name, user.name);
    assert.equal(answer.json.role, 'operator');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const attributes = answer.session!.setCookie.split(';').map((p) => p.trim().toLowerCase());
    for (const attribute of ['httponly', 'samesite=strict', 'path=/']) assert.ok(attributes.includes(attribute), `${attribute} in ${answer.session!.setCookie}`);
    assert.ok(attributes.some((p) => /^max-age=\d+$/.test(p) && Number(p.slice(8)) > 0));
    assert.ok(!attributes.includes('secure'), 'plain HTTP: no Secure');
    assert.match(answer.session!.cookie, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
    assert.ok(!answer.text.includes(answer.session!.cookie), 'the session value is in the cookie only');

    // Over HTTPS through a proxy the server trusts, the cookie is Secure; a server that does
    // not trust proxies ignores the header, which anyone could send.
    const proxied = await login(c, user.name, user.password, { 'x-forwarded-proto': 'https' });
    assert.equal(proxied.status, 200, proxied.text);
    assert.match(proxied.session!.setCookie, /;\s*Secure\b/);
    const forged = await login(a, user.name, user.password, { 'x-forwarded-proto': 'https' });
    assert.equal(forged.status, 200, forged.text);
    assert.doesNotMatch(forged.session!.setCookie, /Secure/);
  });

  test('requests through the cookie act as the user, on any server; changes need the CSRF token', async () => {
    const user = await newUser('operator');
    const session = await loggedIn(a, user);
    const me = await withSession(b, session, 'GET', '/auth/me', undefined, null);
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(
      { kind: me.json.kind, name: me.json.name, role: me.json.role, csrf: me.json.csrf_token },
      { kind: 'session', name: user.name, role: 'operator', csrf: session.csrf },
    );
    assert.equal((await withSession(b, session, 'GET', '/tasks?limit=1', undefined, null)).status, 200, 'a read needs no CSRF token');

    for (const [label, csrf] of [['no X-CSRF-Token', null], ['a wrong X-CSRF-Token', session.csrf.slice(0, -1) + (session.csrf.endsWith('A') ? 'B' : 'A')], ['an empty one', '']] as const) {
      const before = await eventCount();
      const refused = await withSession(b, session, 'POST', '/workflows', { name: `csrf ${label}` }, csrf);
      assert.equal(refused.status, 403, `${label}: ${refused.text}`);
      assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.match(refused.json.detail, /X-CSRF-Token/);
      assert.equal(await eventCount(), before, `${label}: nothing written`);
      assert.equal((await db.query('SELECT count(*)::int AS n FROM workflows WHERE name = $1', [`csrf ${label}`])).rows[0].n, 0);
    }

    const created = await withSession(b, session, 'POST', '/workflows', { name: 'through a session' });
    assert.equal(created.status, 201, created.text);
    const { rows } = await db.query("SELECT meta FROM events WHERE type = 'workflow.created' AND stream_id = $1", [created.json.id]);
    assert.equal(rows[0].meta.actor, user.name, 'the user is the actor');
    assert.equal(rows[0].meta.actor_kind, 'session');
    assert.equal(created.json.created_by, user.name);

    // A Bearer request is exempt, and its header alone decides (a cookie does not rescue a wrong token).
    const bearer = await call(a, 'POST', '/workflows', { body: { name: 'bearer' }, headers: { authorization: `Bearer ${a.token}`, cookie: `labq_session=${session.cookie}` } });
    assert.equal(bearer.status, 201, bearer.text);
    const wrongBearer = await call(a, 'GET', '/tasks', { headers: { authorization: 'Bearer labq_wrong', cookie: `labq_session=${session.cookie}` } });
    assert.equal(wrongBearer.status, 401);
  });

  test('logout ends the session on every server at once', async () => {
    const user = await newUser('viewer');
    const session = await loggedIn(a, user);
    const other = await loggedIn(b, user);
    assert.equal((await withSession(b, session, 'GET', '/auth/me')).status, 200);
    assert.equal((await withSession(a, session, 'POST', '/auth/logout', undefined, null)).status, 403, 'logout needs the CSRF token too');
    const out = await withSession(a, session, 'POST', '/auth/logout');
    assert.equal(out.status, 200, out.text);
    assert.match(out.headers.get('set-cookie') ?? '', /^labq_session=;.*Max-Age=0/);
    for (const ts of [a, b, c]) {
      const refused = await withSession(ts, session, 'GET', '/auth/me');
      assert.equal(refused.status, 401, refused.text);
      assert.match(refused.json.detail, /log in again/);
    }
    assert.equal((await withSession(a, other, 'GET', '/auth/me')).status, 200, "the user's other session goes on");
    const { rows } = await db.query("SELECT type, data, meta FROM events WHERE stream_type = 'session' AND data->>'name' = $1 ORDER BY position", [user.name]);
    assert.deepEqual(rows.map((r) => [r.type, r.data.reason ?? null]), [['session.opened', null], ['session.opened', null], ['session.closed', 'logout']]);
    assert.equal(rows[0].meta.actor, user.name);
  });

  test('an unknown name and a wrong password get the same 401', async () => {
    const user = await newUser();
    const unknown = await login(a, `nobody-${serial}`, 'whatever it is, long enough');
    const wrong = await login(a, user.name, 'not the password at all');
    for (const answer of [unknown, wrong]) {
      assert.equal(answer.status, 401);
      assert.equal(answer.session, undefined, 'no cookie');
    }
    const strip = (json: any) => ({ ...json, request_id: undefined });
    assert.deepEqual(strip(unknown.json), strip(wrong.json));
    assert.equal((await login(a, user.name, user.password)).status, 200);
  });

  test(`the ${MAX_PER_NAME + 1}th failure for a name is refused with 429 on another server, the right password too`, async () => {
    const user = await newUser();
    const servers = [a, b];
    for (let i = 0; i < MAX_PER_NAME; i++) assert.equal((await login(servers[i % 2]!, user.name, `wrong guess number ${i}`)).status, 401);
    for (const [ts, password] of [[b, 'wrong guess again'], [a, user.password]] as const) {
      const refused = await login(ts, user.name, password);
      assert.equal(refused.status, 429, refused.text);
      assert.equal(refused.session, undefined);
      const retry = Number(refused.headers.get('retry-after'));
      assert.ok(Number.isInteger(retry) && retry > 0 && retry <= 15 * 60, `Retry-After ${refused.headers.get('retry-after')}`);
    }
    // An unknown name is limited just the same, so the limit tells nothing about who exists.
    const ghost = `ghost-${serial}`;
    for (let i = 0; i < MAX_PER_NAME; i++) assert.equal((await login(b, ghost, `wrong guess number ${i}`)).status, 401);
    assert.equal((await login(a, ghost, 'wrong guess again')).status, 429);
  });

  test("a success clears its own address's failures only, and the limit per address spans names", async () => {
    const user = await newUser();
    const from = (address: string) => ({ 'x-forwarded-for': address });
    for (let i = 0; i < MAX_PER_NAME - 1; i++) assert.equal((await login(c, user.name, `attacker ${i}`, from('203.0.113.7'))).status, 401);
    assert.equal((await login(c, user.name, user.password, from('198.51.100.2'))).status, 200, 'the user, from elsewhere');
    assert.equal((await login(c, user.name, 'attacker again', from('203.0.113.7'))).status, 401, `the ${MAX_PER_NAME}th failure`);
    assert.equal((await login(c, user.name, 'attacker once more', from('203.0.113.7'))).status, 429, "the user's success did not reset the count");
    const { rows } = await db.query("SELECT meta FROM events WHERE type = 'session.opened' AND data->>'name' = $1", [user.name]);
    assert.equal(rows[0].meta.source, '198.51.100.2', "behind a trusted proxy, the client's address is recorded");
    assert.deepEqual([rows[0].meta.actor, rows[0].meta.actor_kind], [user.name, 'session'], 'the user opened it, not a token of that name');

    // One address guessing many names.
    const names = Array.from({ length: MAX_PER_ADDRESS }, (_, i) => `spray-${serial}-${i}`);
    for (const name of names) assert.equal((await login(c, name, 'Summer2026!Summer', from('192.0.2.99'))).status, 401);
    const other = await newUser();
    assert.equal((await login(c, other.name, other.password, from('192.0.2.99'))).status, 429, 'the address is limited');
    assert.equal((await login(c, other.name, other.password, from('192.0.2.100'))).status, 200, 'another address is not');
  });

  test("users change their own password with the current one; their other sessions end", async () => {
    const user = await newUser('viewer');
    const session = await loggedIn(a, user);
    const other = await loggedIn(b, user);
    const newPassword = `a brand new passphrase ${serial}`;
    passwords.push(newPassword);
    const wrong = await withSession(a, session, 'PATCH', '/auth/me', { password: newPassword, current_password: 'not the current one' });
    assert.equal(wrong.status, 400, wrong.text);
    assert.deepEqual(wrong.json.errors.map((e: any) => e.field), ['current_password']);
    const short = await withSession(a, session, 'PATCH', '/auth/me', { password: 'short', current_password: user.password });
    assert.equal(short.status, 400, short.text);
    assert.deepEqual(short.json.errors.map((e: any) => e.field), ['password']);
    assert.match(short.json.errors[0].message, /at least 12/);
    const changed = await withSession(a, session, 'PATCH', '/auth/me', { password: newPassword, current_password: user.password });
    assert.equal(changed.status, 200, changed.text);
    assert.equal((await withSession(a, session, 'GET', '/auth/me')).status, 200, 'the session that changed it goes on');
    const ended = await withSession(a, other, 'GET', '/auth/me');
    assert.equal(ended.status, 401, 'the other one ended');
    assert.match(ended.json.detail, /its password changed/, 'the user is told why it may have ended');
    assert.equal((await login(b, user.name, user.password)).status, 401);
    assert.equal((await login(b, user.name, newPassword)).status, 200);
    const byToken = await call(a, 'PATCH', '/auth/me', { body: { password: newPassword, current_password: newPassword }, headers: { authorization: `Bearer ${a.token}` } });
    assert.equal(byToken.status, 409, 'a token has no password');
  });
});

describe('users', () => {
  test('bad input is a 400 naming the field, a taken name a 409, an unknown user a 404; nothing changes', async () => {
    const before = await eventCount();
    const cases: [string, unknown, string][] = [
      ['POST', { name: 'shorty', role: 'viewer', password: 'too short' }, 'password'],
      ['POST', { name: 'has space', role: 'viewer', password: 'long enough password' }, 'name'],
      ['POST', { name: 'noone', role: 'root', password: 'long enough password' }, 'role'],
      ['POST', { name: 'nopass', role: 'viewer' }, 'password'],
    ];
    for (const [method, body, field] of cases) {
      const answer = await asAdmin(a, method, '/users', body);
      assert.equal(answer.status, 400, answer.text);
      assert.ok(answer.json.errors.some((e: any) => e.field === field), `${field} in ${answer.text}`);
    }
    const empty = await asAdmin(a, 'PATCH', `/users/whoever`, {});
    assert.equal(empty.status, 400, empty.text);
    assert.equal((await asAdmin(a, 'PATCH', '/users/nobody-at-all', { role: 'viewer' })).status, 404);
    assert.equal((await asAdmin(a, 'DELETE', '/users/nobody-at-all')).status, 404);
    // A NUL in the name of the path, which PostgreSQL text cannot hold: refused, not a 500.
    for (const [method, path, body] of [['PATCH', '/users/a%00b', { role: 'viewer' }], ['DELETE', '/users/a%00b'], ['DELETE', '/tokens/a%00b']] as const) {
      const answer = await asAdmin(a, method, path, body);
      assert.equal(answer.status, 400, `${method} ${path}: ${answer.text}`);
      assert.deepEqual(answer.json.errors, [{ field: 'name', message: 'must not contain NUL' }]);
    }
    assert.equal(await eventCount(), before);
    const user = await newUser();
    const again = await asAdmin(a, 'POST', '/users', { name: user.name, role: 'viewer', password: 'another long password' });
    assert.equal(again.status, 409, again.text);
  });

  test("a role change takes effect at the session's next request; the admin sees users without passwords", async () => {
    const user = await newUser('viewer');
    const session = await loggedIn(a, user);
    const changed = await asAdmin(b, 'PATCH', `/users/${user.name}`, { role: 'operator' });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.json.role, 'operator');
    assert.equal((await withSession(a, session, 'GET', '/auth/me')).json.role, 'operator');
    const list = await asAdmin(a, 'GET', '/users');
    const listed = list.json.items.find((u: any) => u.name === user.name);
    assert.deepEqual(Object.keys(listed).sort(), ['created_at', 'name', 'role', 'sessions']);
    assert.equal(listed.sessions, 1);
    const { rows } = await db.query("SELECT type, data FROM events WHERE stream_type = 'user' AND data->>'name' = $1 ORDER BY position", [user.name]);
    assert.deepEqual(rows.map((r) => r.type), ['user.created', 'user.role_changed']);
    assert.deepEqual(rows[1].data, { name: user.name, old: 'viewer', new: 'operator' });
  });

  test('an admin sets a password: every session of the user ends', async () => {
    const user = await newUser();
    const session = await loggedIn(a, user);
    const password = `set by the admin ${serial} ok`;
    passwords.push(password);
    assert.equal((await asAdmin(a, 'PATCH', `/users/${user.name}`, { password })).status, 200);
    assert.equal((await withSession(b, session, 'GET', '/auth/me')).status, 401);
    assert.equal((await login(a, user.name, password)).status, 200);
  });

  test('removing a user ends its sessions and revokes the tokens it made in a session, at once', async () => {
    const user = await newUser('admin');
    const session = await loggedIn(a, user);
    const made = await withSession(a, session, 'POST', '/tokens', { name: `made-by-${user.name}`, role: 'viewer' });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.json.created_by, user.name);
    const kept = await asAdmin(a, 'POST', '/tokens', { name: `made-by-token-${serial}`, role: 'viewer' });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    assert.equal((await call(a, 'GET', '/tasks', { headers: bearer(made.json.token) })).status, 200);
    const removed = await asAdmin(a, 'DELETE', `/users/${user.name}`);
    assert.equal(removed.status, 200, removed.text);
    assert.equal((await withSession(b, session, 'GET', '/auth/me')).status, 401, 'the session ended');
    assert.equal((await call(a, 'GET', '/tasks', { headers: bearer(made.json.token) })).status, 401, "the user's token is revoked");
    assert.equal((await call(a, 'GET', '/tasks', { headers: bearer(kept.json.token) })).status, 200, 'a token made by a token stays');
    assert.equal((await login(a, user.name, user.password)).status, 401, 'a removed user cannot log in');
    const { rows } = await db.query(
      "SELECT type FROM events WHERE (stream_type IN ('user', 'session') AND data->>'name' = $1) OR (type = 'token.revoked' AND data->>'name' = $2) ORDER BY position",
      [user.name, `made-by-${user.name}`],
    );
    assert.deepEqual(rows.map((r) => r.type), ['user.created', 'session.opened', 'session.closed', 'token.revoked', 'user.removed']);
    // The name is free again, for a new user with a new history.
    assert.equal((await asAdmin(a, 'POST', '/users', { name: user.name, role: 'viewer', password: 'a new person here' })).status, 201);
  });
});

describe('tokens', () => {
  test('created with an expiry, listed without values or hashes, refused with "token expired" once past it', async () => {
    const created = await asAdmin(a, 'POST', '/tokens', { name: `expiring-${++serial}`, role: 'operator', expires_in: '30d' });
    assert.equal(created.status, 201, created.text);
    assert.match(created.json.token, /^labq_/);
    const days = (Date.parse(created.json.expires_at) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
    const list = await asAdmin(a, 'GET', '/tokens');
    assert.ok(!list.text.includes(created.json.token), 'no value in the list');
    const listed = list.json.items.find((t: any) => t.name === created.json.name);
    assert.deepEqual(Object.keys(listed).sort(), ['created_at', 'created_by', 'expires_at', 'name', 'revoked_at', 'role', 'status']);
    assert.equal(listed.status, 'live');

    for (const [body, field] of [
      [{ name: 'both', role: 'viewer', expires_in: '1d', expires_at: '2099-01-01T00:00:00Z' }, 'expires_at'],
      [{ name: 'past', role: 'viewer', expires_at: '2001-01-01T00:00:00Z' }, 'expires_at'],
      [{ name: 'weird', role: 'viewer', expires_in: 'soon' }, 'expires_in'],
      [{ name: 'bad name!', role: 'viewer' }, 'name'],
    ] as const) {
      const refused = await asAdmin(a, 'POST', '/tokens', body);
      assert.equal(refused.status, 400, refused.text);
      assert.ok(refused.json.errors.some((e: any) => e.field === field), `${field}: ${refused.text}`);
    }
    for (const lifetime of ['0d', '1000000d', '1.5h']) {
      const refused = await asAdmin(a, 'POST', '/tokens', { name: 'odd-lifetime', role: 'viewer', expires_in: lifetime });
      assert.deepEqual(refused.json.errors, [{ field: 'expires_in', message: 'must be a whole number from 1 to 999999 followed by s, m, h or d, e.g. 30d' }], lifetime);
    }
    assert.equal((await asAdmin(a, 'POST', '/tokens', { name: created.json.name, role: 'viewer' })).status, 409);

    // An expiry a moment away: the token works, is cached, and is refused once past it.
    const name = `short-lived-${serial}`;
    const token = await createToken(a.server.pool, name, 'viewer', { actor: 'test', request_id: null, source: null }, { expiresAt: new Date(Date.now() + 1500).toISOString() });
    const get = () => call(b, 'GET', '/tasks?limit=1', { headers: { authorization: `Bearer ${token}` } });
    assert.equal((await get()).status, 200);
    const refused = await until('the token to expire', async () => {
      const answer = await get();
      return answer.status === 401 && answer;
    }, 10_000);
    assert.equal(refused.json.detail, 'token expired');
    assert.equal((await asAdmin(a, 'GET', '/tokens')).json.items.find((t: any) => t.name === name).status, 'expired');
  });

  test('tokens of one name created at once: one is made, the others are a 409, never a 500', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `raced-${++serial}`;
      const answers = await Promise.all([a, b, a, b].map((server) => asAdmin(server, 'POST', '/tokens', { name, role: 'viewer' })));
      assert.deepEqual(answers.map((r) => r.status).sort(), [201, 409, 409, 409], answers.map((r) => r.text).join('\n'));
      assert.ok(answers.filter((r) => r.status === 409).every((r) => r.json.detail === `a token named "${name}" exists already`));
    }
  });

  test('a user of role worker may not register a worker in a session: it has no token to bind it to', async () => {
    const user = await newUser('worker');
    const session = await loggedIn(a, user);
    const before = await eventCount();
    const answer = await withSession(a, session, 'POST', '/workers', {
      name: `session-worker-${serial}`, instance: '6f1c1a52-7d2e-4d56-9a57-6a4b1f0c2e11', hostname: 'h', cpus: 1, memory_mb: 1, docker: false, gpus: 0,
      capabilities: [], tags: ['session'], concurrency: 1, prefetch: 0,
    });
    assert.equal(answer.status, 403, answer.text);
    assert.match(answer.json.detail, /registers with a worker token/);
    assert.equal(await eventCount(), before);
  });

  test('a revoked token is refused at once by the server that revoked it, and by the others after the notification', async () => {
    const created = await asAdmin(a, 'POST', '/tokens', { name: `revoked-${++serial}`, role: 'viewer' });
    const get = (ts: TestServer) => call(ts, 'GET', '/tasks?limit=1', { headers: { authorization: `Bearer ${created.json.token}` } });
    assert.equal((await get(a)).status, 200);
    assert.equal((await get(b)).status, 200);
    const notified = new Promise<void>((resolve) => {
      const unsubscribe = b.server.hub.subscribe((channel) => channel === TOKENS_CHANNEL && (unsubscribe(), resolve()));
    });
    assert.equal((await asAdmin(a, 'DELETE', `/tokens/${created.json.name}`)).status, 200);
    assert.equal((await get(a)).status, 401);
    await notified;
    assert.equal((await get(b)).status, 401);
    assert.equal((await asAdmin(a, 'DELETE', `/tokens/${created.json.name}`)).status, 404, 'already revoked');
    const { rows } = await db.query("SELECT type, data FROM events WHERE stream_type = 'token' AND data->>'name' = $1 ORDER BY position", [created.json.name]);
    assert.deepEqual(rows.map((r) => r.type), ['token.created', 'token.revoked']);
  });
});

test('no password, hash, session value or token value appears in an answer, an event or a log line', async () => {
  const hashes = (await db.query('SELECT password_hash FROM users')).rows.map((r) => r.password_hash as string);
  assert.ok(hashes.length > 5 && hashes.every((h) => /^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/.test(h)), 'scrypt hashes with their parameters');
  assert.equal(new Set(hashes.map((h) => h.split('$')[4])).size, hashes.length, 'a salt per password');
  const sessions = (await db.query('SELECT session_hash FROM sessions')).rows.map((r) => (r.session_hash as Buffer).toString('hex'));
  const { rows: events } = await db.query('SELECT data::text || meta::text AS text FROM events');
  const logs = [a, b, c].flatMap((ts) => ts.logs);
  const secrets = [...passwords, ...hashes, ...hashes.map((h) => h.split('$')[5]!), ...sessions];
  for (const [where, texts] of [['answers', answers], ['events', events.map((e) => e.text)], ['logs', logs]] as const) {
    for (const secret of secrets) assert.ok(!texts.some((t) => t.includes(secret)), `a secret in the ${where}`);
    assert.ok(!texts.some((t) => t.includes('scrypt$')), `a hash in the ${where}`);
  }
});
