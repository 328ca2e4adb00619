// `labq user …`, `labq token …` and `labq admin user add`, run as child processes against
// a real server: passwords come from stdin (never an argument), what the commands make
// works for login and requests, and what they remove or revoke stops working.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../e2e/support/server.js';
import { API_PREFIX } from '../shared/api.js';

const MAIN = join(resolve(import.meta.dirname, '../..'), 'dist/cli/main.js');

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts?.close());

/** Runs `labq ARGS` with `stdin` piped in; with the test server and admin token unless `local`. */
function labq(args: string[], stdin = '', local = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, LABQ_DATA_DIR: '/nonexistent-labq-test' };
  for (const name of ['DATABASE_URL', 'LABQ_SERVER', 'LABQ_TOKEN', 'LABQ_ADMIN_TOKEN']) delete env[name];
  if (!local) Object.assign(env, { LABQ_SERVER: ts.url, LABQ_TOKEN: ts.token });
  const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(stdin);
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

const login = (name: string, password: string) => fetch(`${ts.url}${API_PREFIX}/auth/login`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }),
});

async function loginStatus(name: string, password: string): Promise<number> {
  const response = await login(name, password);
  await response.text();
  return response.status;
}

const get = async (token: string) => (await fetch(`${ts.url}${API_PREFIX}/tasks?limit=1`, { headers: { authorization: `Bearer ${token}` } })).status;

test('labq user add, list, passwd, role and rm', async () => {
  const added = await labq(['user', 'add', 'alice', '--role', 'operator'], 'first password of alice\n');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /user alice created \(operator\)/);
  assert.equal(await loginStatus('alice', 'first password of alice'), 200);

  const listed = await labq(['--json', 'user', 'list']);
  assert.equal(listed.code, 0, listed.stderr);
  const alice = JSON.parse(listed.stdout).find((u: any) => u.name === 'alice');
  assert.equal(alice.role, 'operator');
  assert.ok(!listed.stdout.includes('scrypt'), 'no hash listed');

  const short = await labq(['user', 'add', 'bob'], 'short\n');
  assert.equal(short.code, 1);
  assert.match(short.stderr, /password: must be at least 12 characters/);
  const none = await labq(['user', 'add', 'bob'], '');
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no password on stdin/);
  const asArgument = await labq(['user', 'add', 'bob', '--password', 'given as an argument']);
  assert.notEqual(asArgument.code, 0, 'there is no --password option');

  const passwd = await labq(['user', 'passwd', 'alice'], 'second password of alice\r\nignored line\n');
  assert.equal(passwd.code, 0, passwd.stderr);
  assert.equal(await loginStatus('alice', 'first password of alice'), 401);
  assert.equal(await loginStatus('alice', 'second password of alice'), 200);

  const role = await labq(['user', 'role', 'alice', '--role', 'viewer']);
  assert.equal(role.code, 0, role.stderr);
  assert.match(role.stdout, /alice is now viewer/);

  const removed = await labq(['user', 'rm', 'alice']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(await loginStatus('alice', 'second password of alice'), 401);
  const again = await labq(['user', 'rm', 'alice']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /user "alice" does not exist/);
});

test('labq token create, list and revoke', async () => {
  const created = await labq(['token', 'create', 'ci', '--role', 'viewer', '--expires', '30d']);
  assert.equal(created.code, 0, created.stderr);
  const value = created.stdout.trim();
  assert.match(value, /^labq_[\w-]{43}$/);
  assert.equal(await get(value), 200);

  const listed = await labq(['--json', 'token', 'list']);
  const ci = JSON.parse(listed.stdout).find((t: any) => t.name === 'ci');
  assert.equal(ci.role, 'viewer');
  assert.equal(ci.status, 'live');
  assert.ok(Date.parse(ci.expires_at) > Date.now() + 29 * 86_400_000);
  assert.ok(!listed.stdout.includes(value), 'no value listed');

  const bad = await labq(['token', 'create', 'later', '--expires', 'tomorrow']);
  assert.equal(bad.code, 1);
  // Named by the flag typed, not by the API's field.
  assert.equal(bad.stderr, 'labq: 400 Invalid request\n  --expires: must be a whole number from 1 to 999999 followed by s, m, h or d, e.g. 30d\n');

  const revoked = await labq(['token', 'revoke', 'ci']);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(await get(value), 401);
});

test('a refused token (401) says where the CLI found it and what to do', async () => {
  const value = (await labq(['token', 'create', 'leaving', '--role', 'viewer'])).stdout.trim();
  assert.equal((await labq(['token', 'revoke', 'leaving'])).code, 0);
  const revoked = await labq(['--server', ts.url, '--token', value, 'task', 'list'], '', true);
  assert.equal(revoked.code, 1);
  assert.deepEqual(revoked.stderr.trimEnd().split('\n'), [
    'labq: 401 Unauthorized: the token is unknown or revoked',
    '  the token given with --token was refused: give a live one with --token or LABQ_TOKEN (an admin lists them with `labq token list`, makes one with `labq token create`)',
  ]);
  const none = await labq(['--server', ts.url, 'task', 'list'], '', true);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /\n {2}no token found: give one with --token or LABQ_TOKEN \(on the machine of `labq up`, the CLI reads \/nonexistent-labq-test\/admin-token\)\n$/);
});

test('labq admin user add makes the first user on the database itself, without any token', async () => {
  const child = await labq(['admin', 'user', 'add', 'root', '--database-url', ts.databaseUrl], 'the first admin password\n', true);
  assert.equal(child.code, 0, child.stderr);
  assert.match(child.stdout, /user root created \(admin\)/);
  const response = await login('root', 'the first admin password');
  assert.equal(response.status, 200);
  assert.equal(((await response.json()) as { role: string }).role, 'admin');
});
