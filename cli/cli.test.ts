// The real `labq` command, run as child processes: `labq up` on a fresh data directory
// (embedded PostgreSQL), then the CLI finding the server and the admin token through the
// files `up` leaves there; Ctrl-C stops it cleanly, a restart keeps the token and the
// data; LABQ_ADMIN_TOKEN chooses the token; `labq admin rebuild` replays the log into
// identical projections.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { taskEnded } from '../e2e/support/worker.js';
import { defaultDataDir } from '../server/config.js';
import { freePort } from '../server/db/embedded.js';
import { LabqApiError, LabqClient, LabqUnreachableError } from '../shared/client.js';
import { TASK_STATUSES } from '../shared/schemas/task.js';
import { VERSION } from '../shared/version.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 15_000;

interface Up {
  child: ChildProcess;
  url: string;
  tokenLine: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Up>();
const dataDirs: string[] = [];

/** The environment of a CLI process: none of the caller's labq settings, only ours. */
function envFor(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['LABQ_SERVER', 'LABQ_TOKEN', 'LABQ_ADMIN_TOKEN', 'LABQ_HOST', 'LABQ_PORT', 'DATABASE_URL', 'LABQ_TEST_ADMIN_URL']) {
    delete env[name];
  }
  return { ...env, LABQ_DATA_DIR: dataDir, ...extra };
}

async function freshDataDir(): Promise<string> {
  const dir = await mkdtemp('/tmp/labq-cli-test-');
  await chmod(dir, 0o755);
  dataDirs.push(dir);
  return dir;
}

/** `labq up`; without its local worker unless asked, so that submitted tasks stay pending for the checks. */
async function startUp(dataDir: string, port: number, extra: Record<string, string> = {}, worker = false): Promise<Up> {
  const child = spawn(process.execPath, [MAIN, 'up', ...(worker ? [] : ['--no-worker'])], {
    env: envFor(dataDir, { LABQ_PORT: String(port), ...extra }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const up: Up = { child, url: '', tokenLine: '', stdout: () => out, stderr: () => err, exit };
  running.add(up);
  exit.then(() => running.delete(up));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const url = /labq is running at (\S+)/.exec(out);
    const token = /^admin token: (.*)$/m.exec(out);
    if (url && token) {
      up.url = url[1]!;
      up.tokenLine = token[1]!.trim();
      return up;
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`labq up exited (${child.exitCode ?? child.signalCode}) before it was ready\nstdout: ${out}\nstderr: ${err}`);
    }
    if (Date.now() > deadline) throw new Error(`labq up not ready after ${START_TIMEOUT_MS} ms\nstdout: ${out}\nstderr: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ctrl-C: resolves with the exit code and how long the process took to exit. */
async function interrupt(up: Up): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  up.child.kill('SIGINT');
  const timeout = new Promise<null>((r) => setTimeout(() => r(null), STOP_TIMEOUT_MS).unref());
  const result = await Promise.race([up.exit, timeout]);
  if (!result) throw new Error(`labq up did not exit within ${STOP_TIMEOUT_MS} ms of SIGINT\nstderr: ${up.stderr()}`);
  return { ...result, ms: Date.now() - started };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function labq(dataDir: string, args: string[], extra: Record<string, string> = {}, onStderr?: (soFar: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: envFor(dataDir, extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      onStderr?.(stderr);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`labq ${args.join(' ')} did not finish within ${START_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, START_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed, and parses its --json output. */
async function labqJson<T = any>(dataDir: string, args: string[], extra: Record<string, string> = {}): Promise<T> {
  const run = await labq(dataDir, args, extra);
  assert.equal(run.code, 0, `labq ${args.join(' ')} exited ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`labq ${args.join(' ')} printed no JSON: ${run.stdout}`);
  }
}

/** A postmaster left behind (only if `up` died without stopping it): stop it. */
async function stopLeftoverPostgres(dataDir: string): Promise<void> {
  const pidFile = join(dataDir, 'pg', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
}

after(async () => {
  for (const up of [...running]) {
    up.child.kill('SIGINT');
    const stopped = await Promise.race([up.exit, new Promise<null>((r) => setTimeout(() => r(null), STOP_TIMEOUT_MS).unref())]);
    if (!stopped) {
      up.child.kill('SIGKILL');
      await up.exit;
    }
  }
  for (const dir of dataDirs) {
    await stopLeftoverPostgres(dir);
    await rm(dir, { recursive: true, force: true });
  }
});

describe('labq up, the CLI against it, restart and rebuild', () => {
  let dataDir: string;
  let port: number;
  let up: Up;
  let adminToken: string;
  let workflowId: number;
  let stepId: number;
  let echoId: number;
  let fileIds: number[];
  let listBefore: any;
  let workflowBefore: any;
  let eventTotal: number;

  test('labq up starts on a fresh data dir, prints its URL and admin token, and serves the UI', async () => {
    dataDir = await freshDataDir();
    port = await freePort();
    up = await startUp(dataDir, port);
    assert.equal(up.url, `http://127.0.0.1:${port}`);
    adminToken = up.tokenLine;
    assert.match(adminToken, /^labq_[A-Za-z0-9_-]{40,}$/);
    const health = await fetch(`${up.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    const authed = await fetch(`${up.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(authed.status, 200);
    await authed.text();
    // The monitoring UI is served at the root, and every page path loads it.
    for (const path of ['/', '/tasks?status=failed']) {
      const page = await fetch(`${up.url}${path}`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<div id="app">/);
    }
    // The CLI finds both through the data dir.
    assert.equal(readFileSync(join(dataDir, 'server-url'), 'utf8').trim(), up.url);
    assert.equal(readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(), adminToken);
  });

  test('workflow create and step create -w', async () => {
    const workflow = await labqJson(dataDir, ['workflow', 'create', 'cli-workflow', '--description', 'made by the CLI test', '--json']);
    assert.equal(workflow.name, 'cli-workflow');
    assert.equal(workflow.description, 'made by the CLI test');
    assert.equal(workflow.created_by, 'admin');
    workflowId = workflow.id;
    assert.ok(Number.isInteger(workflowId) && workflowId > 0);

    const step = await labqJson(dataDir, ['step', 'create', '-w', String(workflowId), 'align', '--json']);
    assert.equal(step.workflow_id, workflowId);
    assert.equal(step.name, 'align');
    stepId = step.id;

    const human = await labq(dataDir, ['step', 'create', '-w', String(workflowId), 'call']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^step \d+ created$/m);
  });

  test('task submit -s … -k key -- echo hello; the same again returns the same task', async () => {
    const first = await labqJson(dataDir, ['task', 'submit', '-s', String(stepId), '-k', 'hello-key', '--json', '--', 'echo', 'hello']);
    assert.equal(first.tasks.length, 1);
    assert.equal(first.tasks[0].created, true);
    assert.equal(first.tasks[0].key, 'hello-key');
    assert.equal(first.tasks[0].status, 'pending');
    echoId = first.tasks[0].id;

    const again = await labqJson(dataDir, ['task', 'submit', '-s', String(stepId), '-k', 'hello-key', '--json', '--', 'echo', 'hello']);
    assert.deepEqual(again.tasks, [{ id: echoId, key: 'hello-key', status: 'pending', created: false }]);
  });

  test('task submit -f file.json with an array of 3 tasks', async () => {
    const file = join(dataDir, 'tasks.json');
    await writeFile(file, JSON.stringify([
      { command: 'echo one', step_id: stepId, key: 'f1', priority: 3 },
      { command: 'echo two', workflow_id: workflowId, key: 'f2', tag: 'highmem' },
      { command: 'echo three', step_id: stepId, key: 'f3', held: true },
    ]));
    const result = await labqJson(dataDir, ['task', 'submit', '-f', file, '--json']);
    assert.equal(result.tasks.length, 3);
    assert.deepEqual(result.tasks.map((t: any) => [t.key, t.status, t.created]), [
      ['f1', 'pending', true],
      ['f2', 'pending', true],
      ['f3', 'held', true],
    ]);
    fileIds = result.tasks.map((t: any) => t.id);
    assert.equal(new Set([echoId, ...fileIds]).size, 4);
  });

  test('task list --json, with --status and -q filters', async () => {
    const all = await labqJson(dataDir, ['task', 'list', '--json']);
    assert.deepEqual(all.items.map((t: any) => t.id), [echoId, ...fileIds]);
    assert.equal(all.next_cursor, null);

    const held = await labqJson(dataDir, ['task', 'list', '--status', 'held', '--json']);
    assert.deepEqual(held.items.map((t: any) => t.id), [fileIds[2]]);

    const pendingOrHeld = await labqJson(dataDir, ['task', 'list', '--status', 'pending,held', '--json']);
    assert.equal(pendingOrHeld.items.length, 4);

    const hello = await labqJson(dataDir, ['task', 'list', '-q', 'HELLO', '--json']);
    assert.deepEqual(hello.items.map((t: any) => t.command), ['echo hello']);

    const combined = await labqJson(dataDir, ['task', 'list', '--status', 'pending', '-q', 'echo t', '--json']);
    assert.deepEqual(combined.items.map((t: any) => t.command), ['echo two']);

    const paged = await labqJson(dataDir, ['task', 'list', '--limit', '2', '--json']);
    assert.equal(paged.items.length, 2);
    const next = await labqJson(dataDir, ['task', 'list', '--limit', '2', '--cursor', paged.next_cursor, '--json']);
    assert.deepEqual([...paged.items, ...next.items].map((t: any) => t.id), [echoId, ...fileIds]);
    const reversed = await labqJson(dataDir, ['task', 'list', '--sort', '-id', '--offset', '1', '--json']);
    assert.deepEqual(reversed.items.map((t: any) => t.id), [echoId, ...fileIds].reverse().slice(1));
    const neverRun = await labqJson(dataDir, ['task', 'list', '--worker', '1', '--failure-class', 'oom,exit', '--json']);
    assert.deepEqual(neverRun.items, [], 'no task has run: none matches a worker or a failure class');

    const table = await labq(dataDir, ['task', 'list', '-s', String(stepId)]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+STATUS\s+ATTEMPTS\s+EXIT\s+ELAPSED\s+WORKER\s+TAG\s+NAME\s+COMMAND/m);
    assert.match(table.stdout, /echo hello/);
    assert.doesNotMatch(table.stdout, /echo two/, 'task two is in the workflow but not the step');
  });

  test('task show ID', async () => {
    const task = await labqJson(dataDir, ['task', 'show', String(echoId)]);
    assert.equal(task.id, echoId);
    assert.equal(task.command, 'echo hello');
    assert.equal(task.step_id, stepId);
    assert.equal(task.workflow_id, workflowId, 'the workflow comes from the step');
    assert.equal(task.key, 'hello-key');
    assert.equal(task.status, 'pending');
    assert.equal(task.submitted_by, 'admin');
    assert.deepEqual(task.executions, []);
  });

  test('task events ID', async () => {
    const events = await labqJson(dataDir, ['task', 'events', String(echoId), '--json']);
    assert.equal(events.length, 1);
    assert.equal(events[0].type, 'task.submitted');
    assert.equal(events[0].stream_id, echoId);
    assert.equal(events[0].data.command, 'echo hello');
    assert.equal(events[0].meta.actor, 'admin');
    const table = await labq(dataDir, ['task', 'events', String(echoId)]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /task\.submitted\s+admin/);
  });

  test('workflow show ID (counts)', async () => {
    const workflow = await labqJson(dataDir, ['workflow', 'show', String(workflowId), '--json']);
    assert.equal(workflow.id, workflowId);
    assert.deepEqual(workflow.counts, { pending: 3, held: 1 });
    assert.deepEqual(workflow.steps.map((s: any) => [s.name, s.counts]), [
      ['align', { pending: 2, held: 1 }],
      ['call', {}],
    ]);
    const human = await labq(dataDir, ['workflow', 'show', String(workflowId)]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^workflow ${workflowId} cli-workflow$`, 'm'));
    assert.match(human.stdout, /^tasks: .*pending=3/m);
    assert.match(human.stdout, /held=1/);
  });

  test('a failing call exits non-zero with the problem on stderr', async () => {
    const missing = await labq(dataDir, ['task', 'show', '99999']);
    assert.notEqual(missing.code, 0);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /404/);
    assert.match(missing.stderr, /task 99999 does not exist/);

    const invalid = await labq(dataDir, ['task', 'submit', '-p', '5000', '--', 'echo', 'nope']);
    assert.notEqual(invalid.code, 0);
    assert.match(invalid.stderr, /400/);
    assert.match(invalid.stderr, /^\s+--priority: /m, 'the invalid field is listed, by the flag typed');

    const duplicate = await labq(dataDir, ['step', 'create', '-w', String(workflowId), 'align']);
    assert.notEqual(duplicate.code, 0);
    assert.match(duplicate.stderr, /409/);

    const wrongToken = await labq(dataDir, ['task', 'list'], { LABQ_TOKEN: 'labq_not-a-real-token' });
    assert.notEqual(wrongToken.code, 0);
    assert.match(wrongToken.stderr, /401/);

    const list = await labqJson(dataDir, ['task', 'list', '--json']);
    assert.equal(list.items.length, 4, 'the failures created nothing');
  });

  test('SIGINT stops labq up with code 0 within 15 s', async () => {
    listBefore = await labqJson(dataDir, ['task', 'list', '--json']);
    workflowBefore = await labqJson(dataDir, ['workflow', 'show', String(workflowId), '--json']);
    const events = await fetch(`${up.url}/api/v1/events?limit=1000`, { headers: { authorization: `Bearer ${adminToken}` } });
    eventTotal = ((await events.json()) as { items: unknown[] }).items.length;
    // token, workflow, 2 steps, 4 tasks
    assert.equal(eventTotal, 8);

    const stopped = await interrupt(up);
    assert.equal(stopped.signal, null);
    assert.equal(stopped.code, 0, `stderr: ${up.stderr()}`);
    assert.ok(!existsSync(join(dataDir, 'pg', 'postmaster.pid')), 'the embedded PostgreSQL stopped too');
    await assert.rejects(fetch(`${up.url}/healthz`), 'nothing listens any more');
  });

  test('a restart on the same data dir prints the same admin token and keeps the tasks', async () => {
    up = await startUp(dataDir, port);
    assert.equal(up.tokenLine, adminToken);
    assert.deepEqual(await labqJson(dataDir, ['task', 'list', '--json']), listBefore);
    assert.deepEqual(await labqJson(dataDir, ['workflow', 'show', String(workflowId), '--json']), workflowBefore);
    const again = await labqJson(dataDir, ['task', 'submit', '-s', String(stepId), '-k', 'hello-key', '--json', '--', 'echo', 'hello']);
    assert.deepEqual(again.tasks, [{ id: echoId, key: 'hello-key', status: 'pending', created: false }], 'idempotency survives a restart');
    const stopped = await interrupt(up);
    assert.equal(stopped.code, 0);
  });

  test('labq admin rebuild on the stopped data dir replays every event; the data is unchanged', async () => {
    const rebuild = await labq(dataDir, ['admin', 'rebuild']);
    assert.equal(rebuild.code, 0, `stdout: ${rebuild.stdout}\nstderr: ${rebuild.stderr}`);
    const match = /(\d+) events/.exec(rebuild.stdout);
    assert.ok(match, `the number of events is printed: ${rebuild.stdout}`);
    assert.equal(Number(match[1]), eventTotal);
    assert.ok(!existsSync(join(dataDir, 'pg', 'postmaster.pid')), 'rebuild stopped its PostgreSQL');

    up = await startUp(dataDir, port);
    assert.equal(up.tokenLine, adminToken);
    assert.deepEqual(await labqJson(dataDir, ['task', 'list', '--json']), listBefore);
    assert.deepEqual(await labqJson(dataDir, ['workflow', 'show', String(workflowId), '--json']), workflowBefore);
    for (const id of [echoId, ...fileIds]) {
      const task = await labqJson(dataDir, ['task', 'show', String(id)]);
      const { latest: _, ...listed } = listBefore.items.find((t: any) => t.id === id);
      assert.deepEqual({ ...task, executions: undefined }, { ...listed, executions: undefined });
    }
    const stopped = await interrupt(up);
    assert.equal(stopped.code, 0);
  });
});

describe('LABQ_ADMIN_TOKEN', () => {
  test('on a fresh data dir, the chosen token is the admin token, and stays valid after a restart', async () => {
    const dataDir = await freshDataDir();
    const port = await freePort();
    const chosen = `labq_chosen_${randomBytes(16).toString('hex')}`;
    let up = await startUp(dataDir, port, { LABQ_ADMIN_TOKEN: chosen });
    assert.equal(up.tokenLine, chosen);

    const api = await fetch(`${up.url}/api/v1/tasks`, { headers: { authorization: `Bearer ${chosen}` } });
    assert.equal(api.status, 200);
    await api.text();
    const created = await labqJson(dataDir, ['workflow', 'create', 'chosen', '--json'], { LABQ_TOKEN: chosen });
    assert.equal(created.name, 'chosen');
    assert.equal(created.created_by, 'admin');
    const viaFlag = await labqJson(dataDir, ['--token', chosen, 'workflow', 'list', '--json']);
    assert.deepEqual(viaFlag.items.map((w: any) => w.id), [created.id]);

    const wrong = await labq(dataDir, ['--token', `${chosen}x`, 'workflow', 'list']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /401/);

    assert.equal((await interrupt(up)).code, 0);

    // Without LABQ_ADMIN_TOKEN this time: the token made from it still works, and no
    // second admin token appears.
    up = await startUp(dataDir, port);
    assert.notEqual(up.tokenLine, chosen, 'the chosen token is not printed when it was not given');
    assert.doesNotMatch(up.tokenLine, /^labq_/, 'no new token is made');
    const list = await labqJson(dataDir, ['workflow', 'list', '--json'], { LABQ_TOKEN: chosen });
    assert.deepEqual(list.items.map((w: any) => w.id), [created.id]);
    assert.equal((await interrupt(up)).code, 0);
  });
});

describe('labq up with its local worker', () => {
  test('runs a submitted task, refuses a second labq on the same data dir, rebuilds next to it', async () => {
    const dataDir = await freshDataDir();
    const port = await freePort();
    const up = await startUp(dataDir, port, {}, true);
    assert.match(up.stdout(), /local worker: local-\S+ \(worker \d+\)/);
    const [submitted] = (await labqJson(dataDir, ['task', 'submit', '--json', '--', 'echo from-the-local-worker'])).tasks;
    let task: any;
    for (let i = 0; i < 600; i++) {
      task = await labqJson(dataDir, ['task', 'show', String(submitted.id)]);
      if (task.status === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(task.status, 'succeeded');
    const logs = await labq(dataDir, ['task', 'logs', String(submitted.id)]);
    assert.equal(logs.stdout, 'from-the-local-worker\n');

    const second = await labq(dataDir, ['up', '--no-worker'], { LABQ_PORT: String(await freePort()) });
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /already running with the data directory/);

    const rebuilt = await labq(dataDir, ['admin', 'rebuild']);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.match(rebuilt.stdout, /rebuilt projections from \d+ events/);
    const again = await labqJson(dataDir, ['task', 'show', String(submitted.id)]);
    assert.equal(again.status, 'succeeded', 'the running labq still answers after the rebuild');

    const created = await labq(dataDir, ['admin', 'token', 'create', 'remote-worker', '--role', 'worker']);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^labq_/);
    // Known, but a worker token may not read the list of workers: 403, where a revoked one gets 401.
    const withIt = await fetch(`${up.url}/api/v1/workers`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(withIt.status, 403);
    const listed = await labqJson(dataDir, ['admin', 'token', 'list', '--json']);
    assert.deepEqual(listed.find((t: any) => t.name === 'remote-worker')?.role, 'worker');
    assert.ok(!JSON.stringify(listed).includes(secret), 'the list never shows a secret');
    const duplicate = await labq(dataDir, ['admin', 'token', 'create', 'remote-worker']);
    assert.notEqual(duplicate.code, 0);
    assert.equal((await labq(dataDir, ['admin', 'token', 'revoke', 'remote-worker'])).code, 0);
    const revoked = await fetch(`${up.url}/api/v1/workers`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(revoked.status, 401);

    const badPort = await labq(dataDir, ['task', 'list'], { LABQ_PORT: 'abc' });
    assert.equal(badPort.code, 0, 'a bad LABQ_PORT does not break client commands');
    assert.equal((await interrupt(up)).code, 0);
  });
});

describe('a server that cannot be reached', () => {
  test('the CLI names the URL, the cause and what to do', async () => {
    const dataDir = await freshDataDir();
    const port = await freePort(); // nothing listens there
    const cases: [string[], Record<string, string>, string, RegExp][] = [
      [['task', 'list'], { LABQ_PORT: String(port) }, `http://127.0.0.1:${port}`, /ECONNREFUSED/],
      [['--server', `http://localhost:${port}/`, 'workflow', 'show', '1'], {}, `http://localhost:${port}`, /ECONNREFUSED/],
      [['workers', 'list'], { LABQ_SERVER: 'http://no-such-host.invalid:7420' }, 'http://no-such-host.invalid:7420', /no-such-host\.invalid|E[A-Z_]{4,}/],
    ];
    for (const [args, env, url, cause] of cases) {
      const run = await labq(dataDir, args, env);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stdout, '');
      assert.doesNotMatch(run.stderr, /fetch failed/);
      const [first, hint] = run.stderr.split('\n');
      assert.ok(first!.startsWith(`labq: cannot reach the labq server at ${url} (`), run.stderr);
      assert.match(first!, cause);
      assert.match(hint!, /`labq up`.*--server URL or LABQ_SERVER/);
    }
  });

  test('the client throws LabqUnreachableError, never a LabqApiError (the worker retries on it); an abort stays an abort', async () => {
    const client = new LabqClient({ server: `http://127.0.0.1:${await freePort()}` });
    const error = await client.listTasks().catch((e: unknown) => e);
    assert.ok(error instanceof LabqUnreachableError, String(error));
    assert.ok(!(error instanceof LabqApiError));
    assert.match(error.url, /\/api\/v1\/tasks$/);
    await assert.rejects(client.call('listTasks', { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });
});

describe('what the CLI refuses before it asks a server', () => {
  test('a --file that cannot be read or is not JSON, naming it; a --stream that is not one', async () => {
    const dataDir = await freshDataDir();
    const notJson = join(dataDir, 'tasks.json');
    await writeFile(notJson, '{"command": ');
    const nullJson = join(dataDir, 'null.json');
    await writeFile(nullJson, 'null');
    const latin1 = join(dataDir, 'latin1.json');
    await writeFile(latin1, Buffer.concat([Buffer.from('{"command": "cat '), Buffer.from([0xe9]), Buffer.from('.txt"}')]));
    const cases: [string[], RegExp][] = [
      [['task', 'submit', '-f', join(dataDir, 'absent.json')], /^labq: --file \S+absent\.json: cannot read it \(no such file\)\n$/],
      [['task', 'submit', '-f', dataDir], /^labq: --file \S+: cannot read it \(a directory\)\n$/],
      [['sweep', 'submit', '-f', notJson], /^labq: --file \S+tasks\.json: not valid JSON: /],
      [['schedule', 'add', '-f', notJson], /^labq: --file \S+tasks\.json: not valid JSON: /],
      [['task', 'submit', '-f', latin1], /^labq: --file \S+latin1\.json: not UTF-8/],
      [['schedule', 'edit', 'nightly', '-f', nullJson], /^labq: --file \S+null\.json: holds null, not a JSON object\n$/],
      [['task', 'logs', '1', '--stream', 'both'], /argument 'both' is invalid\. Allowed choices are stdout, stderr/],
    ];
    for (const [args, said] of cases) {
      // LABQ_PORT names a port nothing listens on: none of these may get as far as asking.
      const run = await labq(dataDir, args, { LABQ_PORT: String(await freePort()) });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, said);
      assert.doesNotMatch(run.stderr, /cannot reach/);
    }
  });
});

describe('help and version', () => {
  test('labq --version and -V print the version', async () => {
    const dataDir = await freshDataDir();
    for (const flag of ['--version', '-V']) {
      const run = await labq(dataDir, [flag]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${VERSION}\n`);
    }
  });

  test('every command and subcommand has a description in --help', async () => {
    const dataDir = await freshDataDir();
    const seen: string[] = [];
    const walk = async (path: string[]): Promise<void> => {
      const help = await labq(dataDir, [...path, '--help']);
      assert.equal(help.code, 0, help.stderr);
      const section = /^Commands:\n((?:  .*\n?)+)/m.exec(help.stdout)?.[1] ?? '';
      // An entry starts at the indentation of two; deeper lines continue a description.
      for (const line of section.split('\n').filter((l) => /^  \S/.test(l))) {
        const [term, description] = line.trim().split(/\s{2,}/);
        const name = term!.split(' ')[0]!;
        if (name === 'help') continue;
        seen.push([...path, name].join(' '));
        assert.ok(description, `labq ${[...path, name].join(' ')} has no description`);
        await walk([...path, name]);
      }
    };
    await walk([]);
    for (const command of ['workflow list', 'step show', 'workers list', 'admin token revoke']) assert.ok(seen.includes(command), `${command} is walked`);
  });

  test('labq worker --help names --server and --token; task list --help lists the statuses', async () => {
    const dataDir = await freshDataDir();
    const worker = await labq(dataDir, ['worker', '--help']);
    for (const word of ['--server', '--token', 'LABQ_SERVER', 'LABQ_TOKEN']) assert.ok(worker.stdout.includes(word), `${word} in ${worker.stdout}`);
    const list = await labq(dataDir, ['task', 'list', '--help']);
    const flat = list.stdout.replace(/\s+/g, ' ');
    assert.ok(flat.includes(TASK_STATUSES.join(', ')), flat);
  });

  test('labq worker lists --cache-size and --cache-check, and refuses a size it cannot read before it starts', async () => {
    const dataDir = await freshDataDir();
    const help = await labq(dataDir, ['worker', '--help']);
    assert.ok(help.stdout.includes('--cache-size <size>') && help.stdout.includes('--cache-check <seconds>'), help.stdout);
    const run = await labq(dataDir, ['worker', '--cache-size', '12 parsecs']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /option '--cache-size <size>' argument '12 parsecs' is invalid\. It must be a size: .*\(e\.g\. 500M, 50G\)/);
  });

  test('a value the CLI cannot read is refused naming the option, argument or variable it came from; an edit that changes nothing is refused', async () => {
    const dataDir = await freshDataDir();
    const refused = async (args: string[], expected: RegExp, env: Record<string, string> = {}) => {
      const run = await labq(dataDir, args, env);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, expected);
    };
    await refused(['server'], /value 'abc' from env 'LABQ_PORT' is invalid\. It must be a whole number\./, { LABQ_PORT: 'abc' });
    await refused(['up', '--port', '70000'], /'--port <port>' argument '70000' is invalid\. It must be a port number/);
    await refused(['task', 'hold', '1', 'x'], /value 'x' is invalid for argument 'ids'\. It must be a whole number\./);
    await refused(['task', 'submit', '-d', 'y', '--', 'true'], /'-d, --depends-on <id>' argument 'y' is invalid/);
    await refused(['task', 'edit', '1'], /^labq: nothing to change: give --command, .*--find with --replace/);
    await refused(['worker', '--transfers', '0'], /'--transfers <n>' argument '0' is invalid\. It must be a whole number, 1 or more\./);
  });
});

describe('labq task logs says how the task ended, or why it never ran', () => {
  let dataDir: string;
  let up: Up;
  let client: LabqClient;
  const submit = async (...args: string[]): Promise<number> => (await labqJson(dataDir, ['task', 'submit', '--json', ...args])).tasks[0].id;
  const ended = async (id: number) => (await taskEnded({ client }, id)).status;

  test('labq up with its local worker', async () => {
    dataDir = await freshDataDir();
    up = await startUp(dataDir, await freePort(), {}, true);
    client = new LabqClient({ server: up.url, token: up.tokenLine });
  });

  test('a succeeded execution: its output on stdout, how it ended on stderr, status 0', async () => {
    const id = await submit('--', 'echo fine');
    assert.equal(await ended(id), 'succeeded');
    for (const follow of [[], ['-f']]) {
      const logs = await labq(dataDir, ['task', 'logs', ...follow, String(id)]);
      assert.equal(logs.code, 0, logs.stderr);
      assert.equal(logs.stdout, 'fine\n');
      assert.equal(logs.stderr, `[labq: execution ${(await client.getTask(id)).execution_id} succeeded (exit code 0)]\n`);
    }
  });

  test('the output comes back byte for byte, what is not UTF-8 included', async () => {
    const id = await submit('--', "printf '\\377\\376 latin1 \\351\\n'");
    assert.equal(await ended(id), 'succeeded');
    const stdout = execFileSync(process.execPath, [MAIN, 'task', 'logs', String(id)], { env: envFor(dataDir), stdio: ['ignore', 'pipe', 'ignore'] });
    assert.deepEqual(stdout, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(' latin1 '), Buffer.from([0xe9, 0x0a])]));
  });

  test('a failed command, a failed download, a refused start: status and error on stderr, status 1', async () => {
    const cases: [number, string, RegExp][] = [
      [await submit('--', 'echo partial; exit 3'), 'partial\n', /^labq: execution \d+ failed \(exit code 3\)$/m],
      [await submit('--input', 'file:///nonexistent/labq-missing.fq', '--', 'echo never'), '', /^labq: execution \d+ failed: .*labq-missing\.fq/m],
      [await submit('--shell', 'no-such-shell', '--', 'echo never'), '', /^labq: execution \d+ (refused|failed)\b.*no-such-shell/m],
    ];
    for (const [id, stdout, end] of cases) {
      assert.equal(await ended(id), 'failed');
      for (const follow of [[], ['-f']]) {
        const logs = await labq(dataDir, ['task', 'logs', ...follow, String(id)]);
        assert.equal(logs.code, 1, `task ${id}: ${logs.stderr}`);
        assert.equal(logs.stdout, stdout);
        assert.match(logs.stderr, end);
      }
    }
  });

  test('a task cancelled before it started, or blocked: why it never ran, status 1, even with -f', async () => {
    const held = await submit('--held', '--', 'echo never');
    assert.equal((await labq(dataDir, ['task', 'kill', String(held)])).code, 0);
    const blocked = await submit('-d', String(held), '--', 'echo never');
    for (const [id, status] of [[held, 'cancelled'], [blocked, 'blocked']] as const) {
      for (const follow of [[], ['-f']]) {
        const logs = await labq(dataDir, ['task', 'logs', ...follow, String(id)]);
        assert.equal(logs.code, 1, logs.stderr);
        assert.equal(logs.stdout, '');
        assert.match(logs.stderr, new RegExp(`^labq: task ${id} is ${status}: it never ran$`, 'm'));
      }
    }
  });

  test('-f on a task that may still start says it waits, and stops when it is cancelled', async () => {
    const id = await submit('--held', '--', 'echo never');
    const notYet = await labq(dataDir, ['task', 'logs', String(id)]);
    assert.equal(notYet.code, 1);
    assert.match(notYet.stderr, new RegExp(`task ${id} has not started yet \\(held\\)`));
    let said!: () => void;
    const waiting = new Promise<void>((resolve) => (said = resolve));
    const following = labq(dataDir, ['task', 'logs', '-f', String(id)], {}, (soFar) => soFar.includes('waiting for it to start') && said());
    // Killed once it says it waits; should it end first, the match below says what it printed.
    await Promise.race([waiting, following]);
    assert.equal((await labq(dataDir, ['task', 'kill', String(id)])).code, 0);
    const logs = await following;
    assert.equal(logs.code, 1);
    assert.match(logs.stderr, new RegExp(`^\\[labq: task ${id} is held; waiting for it to start\\]\nlabq: task ${id} is cancelled: it never ran\n`));
  });

  test('workflow show, step show and step list give the counts in lifecycle order', async () => {
    const workflow = (await labqJson(dataDir, ['workflow', 'create', 'ordered', '--json'])).id;
    const step = String((await labqJson(dataDir, ['step', 'create', '-w', String(workflow), 'all', '--json'])).id);
    const held = await submit('-s', step, '--held', '--', 'echo held');
    const cancelled = await submit('-s', step, '--held', '--', 'echo cancelled');
    await labq(dataDir, ['task', 'kill', String(cancelled)]);
    await submit('-s', step, '-d', String(cancelled), '--', 'echo blocked');
    await submit('-s', step, '-d', String(held), '--', 'echo waiting');
    await ended(await submit('-s', step, '--', 'exit 3'));
    await ended(await submit('-s', step, '--', 'echo succeeded'));
    const order = ['waiting', 'blocked', 'held', 'succeeded', 'failed', 'cancelled'];
    assert.deepEqual(Object.keys((await labqJson(dataDir, ['workflow', 'show', String(workflow), '--json'])).counts), order);
    const listed = order.map((s) => `${s}=1`).join(' ');
    for (const args of [['workflow', 'show', String(workflow)], ['step', 'show', step], ['step', 'list', '-w', String(workflow)]]) {
      const run = await labq(dataDir, args);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.stdout.includes(listed), `${args.join(' ')}: ${run.stdout}`);
    }
  });

  test('task show prints the transfer of a live execution on stderr, the JSON alone on stdout', async () => {
    // A worker of its own, driven through the API: the figures are what it says they are.
    const worker = await client.registerWorker({ name: 'cli-progress', instance: randomUUID(), hostname: 'h', cpus: 1, memory_mb: 1024, docker: false, tags: ['cli-progress'] });
    const id = await submit('-t', 'cli-progress', '--', 'echo later');
    const [x] = (await client.pollWorker(worker.id, { instance: worker.instance!, want: 1, wait_seconds: 0 })).assignments.map((a) => a.execution_id);
    await client.pollWorker(worker.id, {
      instance: worker.instance!, want: 0, holding: [x!], wait_seconds: 0,
      reports: [{ execution_id: x!, reports: [{ kind: 'phase', phase: 'downloading' }] }],
      progress: [{ execution_id: x!, phase: 'downloading', bytes_done: 120 * 2 ** 20, bytes_total: 200 * 2 ** 20 }],
    });
    const show = await labq(dataDir, ['task', 'show', String(id)]);
    assert.equal(show.code, 0, show.stderr);
    assert.deepEqual(JSON.parse(show.stdout).executions[0].progress.bytes_done, 120 * 2 ** 20);
    assert.equal(show.stderr, `execution ${x}: downloading 120.0 MiB of 200.0 MiB (60%)\n`);
    assert.equal((await labq(dataDir, ['task', 'show', '--json', String(id)])).stderr, '', '--json: nothing but the JSON');
  });

  test('-x refuses an execution of another task', async () => {
    const [a, b] = [await submit('--', 'echo a'), await submit('--', 'echo b')];
    await ended(a);
    await ended(b);
    const execution = (await client.getTask(a)).execution_id!;
    const logs = await labq(dataDir, ['task', 'logs', '-x', String(execution), String(b)]);
    assert.equal(logs.code, 1);
    assert.match(logs.stderr, new RegExp(`execution ${execution} belongs to task ${a}, not to task ${b}`));
    assert.equal((await interrupt(up)).code, 0);
  });
});

describe("README's first curl block", () => {
  test('reads the admin token from the data directory labq up uses, as root or not', () => {
    const block = /```sh\n([^]*?)```/.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'))![1]!;
    const setup = block.slice(0, block.indexOf('curl'));
    assert.match(setup, /^TOKEN=\$\(cat "\$DATA\/admin-token"\)$/m);
    const dataDir = (env: NodeJS.ProcessEnv) => execFileSync('sh', ['-c', `${setup}\nprintf %s "$DATA"`], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    // This process's environment on both sides: as root, /var/lib/labq; else the user's data directory.
    assert.equal(dataDir(process.env), defaultDataDir());
    assert.equal(dataDir({ ...process.env, LABQ_DATA_DIR: '/srv/labq' }), '/srv/labq');
  });
});
