// What the workers view of the UI reads and does, against real worker daemons: the host
// figures a daemon measures reach GET /workers and the live stream; a drained daemon (a
// child process, as `labq worker` runs) finishes what it runs, takes nothing more and exits
// 0; a worker is deleted only once it is not online, and a registration under its name
// brings it back; a worker's time line of executions; and bad input changes nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { sql } from 'slonik';
import { LabqApiError } from '../shared/client.js';
import type { Worker } from '../shared/schemas/worker.js';
import { http, startTestServer, type TestServer } from './support/server.js';
import { CLI, spawnWorker, startTestWorker, taskEnded, until } from './support/worker.js';
import { pollWorker, registerWorker } from './support/workerApi.js';

const run = promisify(execFile);
let ts: TestServer;
let dir: string;
const stops: (() => Promise<void>)[] = [];

before(async () => {
  ts = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'labq-workers-api-'));
});
after(async () => {
  for (const stop of stops) await stop();
  await ts.close();
});

const eventCount = async (where = sql.fragment`TRUE`) => Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events WHERE ${where}`));
const labq = (...args: string[]) => run(process.execPath, [CLI, '--server', ts.url, '--token', ts.token, ...args]);

/** Follows GET /workers/stream, collecting its messages until `stop`. */
function follow() {
  const controller = new AbortController();
  const messages: { event: string; data: any }[] = [];
  const done = (async () => {
    try {
      for await (const m of ts.client.streamWorkers(controller.signal)) messages.push({ event: m.event, data: JSON.parse(m.data) });
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  })();
  return {
    messages,
    /** The first message from `from` on that `match` accepts. */
    next: (what: string, match: (m: { event: string; data: any }) => unknown, from = 0) =>
      until(what, async () => messages.slice(from).find(match)),
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

/** A worker whose daemon drained and left: registered, then its leaving exchange. */
async function goneWorker(name?: string): Promise<Worker> {
  const worker = await registerWorker(ts, name ? { name } : {});
  await pollWorker(ts, worker, { leaving: true, want: 5 });
  return ts.client.getWorker(worker.id);
}

test("a daemon's host figures reach GET /workers and the stream, which then sends what changes", async () => {
  const stream = follow();
  stops.push(stream.stop);
  const first = await stream.next('the whole list', (m) => m.event === 'workers');
  assert.ok(Array.isArray(first.data));
  const daemon = await startTestWorker(ts, { tags: ['metrics'], pollWaitSeconds: 1 });
  stops.push(() => daemon.stop());

  const measured = await until('figures from the daemon', async () => (await ts.client.getWorker(daemon.id)).metrics ?? undefined, 60_000);
  assert.ok(measured.memory_total_mb > 0 && measured.memory_used_mb > 0 && measured.memory_used_mb <= measured.memory_total_mb, JSON.stringify(measured));
  assert.ok(measured.cpu_percent >= 0 && measured.cpu_percent <= 100 && measured.load1 >= 0, JSON.stringify(measured));
  assert.equal(measured.running, 0);
  assert.ok(!Number.isNaN(Date.parse(measured.updated_at)));
  const listed = (await ts.client.listWorkers()).items.find((w) => w.id === daemon.id)!;
  assert.ok(listed.metrics !== null, 'the list carries the figures too');
  await stream.next('the worker with its figures on the stream', (m) => m.event === 'workers' && m.data.some((w: Worker) => w.id === daemon.id && w.metrics !== null));

  // A worker that left changes no more: once it has been sent offline, it is not sent again.
  const gone = await goneWorker();
  const offline = await stream.next('the offline worker on the stream', (m) => m.event === 'workers' && m.data.some((w: Worker) => w.id === gone.id && w.status === 'offline'));
  const mark = stream.messages.indexOf(offline) + 1;
  await ts.client.updateWorker(daemon.id, { concurrency: 3 });
  await stream.next('the new setting on the stream', (m) => m.event === 'workers' && m.data.some((w: Worker) => w.id === daemon.id && w.concurrency === 3), mark);
  assert.ok(stream.messages.slice(mark).every((m) => m.data.every((w: Worker) => w.id !== gone.id)), 'only what changed is sent');

  // A new client gets the whole list at once, the daemon in it.
  const second = follow();
  const whole = await second.next('the whole list for a new client', (m) => m.event === 'workers');
  await second.stop();
  assert.ok(whole.data.some((w: Worker) => w.id === daemon.id && w.concurrency === 3));

  // A deletion says who left.
  await ts.client.deleteWorker(gone.id);
  await stream.next('its deletion on the stream', (m) => m.event === 'deleted' && m.data.includes(gone.id));
  assert.ok(ts.server.workerFeed.reads > 0);
});

test('a drained daemon finishes its running task, takes no other and exits 0, saying it drained', async () => {
  const gate = join(dir, 'drain-gate');
  const daemon = spawnWorker(ts.url, ts.token, ['--name', 'drainer', '--tags', 'drain', '--concurrency', '1', '--docker', 'off', '--state-dir', join(dir, 'drainer')]);
  stops.push(async () => {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  });
  const { tasks: [long, next] } = await ts.client.submitTasks({
    tasks: [
      { name: 'long', command: `while [ ! -e ${gate} ]; do sleep 0.05; done`, tag: 'drain', priority: 1 },
      { name: 'next', command: 'true', tag: 'drain' },
    ],
  });
  await until('the long task to run', async () => (await ts.client.getTask(long!.id)).status === 'running');
  const worker = (await ts.client.listWorkers()).items.find((w) => w.name === 'drainer')!;

  // Online: refused, and nothing written.
  const events = await eventCount();
  await assert.rejects(ts.client.deleteWorker(worker.id), (error: LabqApiError) => {
    assert.equal(error.status, 409);
    assert.match(error.problem.detail!, /is online.*drain it/);
    return true;
  });
  assert.equal(await eventCount(), events);

  const { stdout } = await labq('workers', 'set', String(worker.id), '--drain');
  assert.match(stdout, /draining/);
  assert.equal((await ts.client.getWorker(worker.id)).draining, true);
  const why = await ts.client.call('whyWorker', { params: { id: worker.id } });
  assert.equal(why.reasons[0]!.code, 'draining');
  assert.match(why.reasons[0]!.message, /1 live execution/);
  const taskWhy = await ts.client.call('whyTask', { params: { id: next!.id } });
  assert.match(taskWhy.reasons.at(-1)!.message, /draining/);

  await writeFile(gate, '');
  assert.equal(await daemon.exited, 0, daemon.output());
  assert.match(daemon.output(), /drained/);
  assert.equal((await ts.client.getTask(long!.id)).status, 'succeeded');
  const left = await ts.client.getTask(next!.id);
  assert.equal(left.status, 'pending', 'the drained worker took no other task');
  assert.equal(left.executions.length, 0);
  const after = await ts.client.getWorker(worker.id);
  assert.equal(after.status, 'offline', 'shown offline as it left, not after a silence');
  assert.equal(after.live_executions, 0);
  const offline = await ts.server.pool.maybeOne(sql.unsafe`
    SELECT meta->>'actor' AS actor FROM events WHERE stream_type = 'worker' AND stream_id = ${worker.id}
      AND type = 'worker.status_changed' AND data->>'status' = 'offline'`);
  assert.ok(offline && offline.actor !== 'reaper', 'its own leaving exchange said so');

  // Gone: it may be deleted now, with its CLI.
  const { stdout: removed } = await labq('workers', 'rm', String(worker.id));
  assert.match(removed, /deleted/);
  assert.equal(await eventCount(sql.fragment`stream_type = 'worker' AND stream_id = ${worker.id} AND type = 'worker.deleted'`), 1);
  assert.ok(!(await ts.client.listWorkers()).items.some((w) => w.id === worker.id), 'out of the list');
  await assert.rejects(ts.client.getWorker(worker.id), (error: LabqApiError) => error.status === 404);
  await assert.rejects(ts.client.updateWorker(worker.id, { paused: true }), (error: LabqApiError) => error.status === 404);
  await assert.rejects(ts.client.deleteWorker(worker.id), (error: LabqApiError) => error.status === 404);
  // Its executions keep their history.
  const history = await ts.client.workerExecutions(worker.id);
  assert.deepEqual(history.items.map((x) => [x.task_id, x.task_name, x.status]), [[long!.id, 'long', 'succeeded']]);

  // The daemon started again (its state directory, so the same instance) brings it back, same id, put back to work.
  const again = await startTestWorker(ts, { name: 'drainer', tags: ['drain'], stateDir: join(dir, 'drainer') });
  stops.push(() => again.stop());
  assert.equal(again.id, worker.id);
  assert.equal((await taskEnded(ts, next!.id)).status, 'succeeded');
  const back = await ts.client.getWorker(worker.id);
  assert.equal(back.draining, false);
  assert.equal((await ts.client.workerExecutions(worker.id)).items.length, 2);
});

test("a worker's time line: its latest executions, newest first, with task names and ends", async () => {
  const daemon = await startTestWorker(ts, { tags: ['timeline'], concurrency: 1 });
  stops.push(() => daemon.stop());
  const { tasks } = await ts.client.submitTasks({
    tasks: [
      { name: 'one', command: 'true', tag: 'timeline', priority: 3 },
      { name: 'two', command: 'exit 4', tag: 'timeline', priority: 2 },
      { command: 'true', tag: 'timeline', priority: 1 },
    ],
  });
  for (const t of tasks) await taskEnded(ts, t.id);
  const all = await ts.client.workerExecutions(daemon.id);
  assert.deepEqual(all.items.map((x) => x.task_id), tasks.map((t) => t.id).reverse(), 'newest first');
  const [third, second, firstRun] = all.items;
  assert.equal(third!.task_name, null);
  assert.deepEqual([second!.task_name, second!.status, second!.exit_code, second!.failure_class], ['two', 'failed', 4, 'exit']);
  assert.deepEqual([firstRun!.task_name, firstRun!.status, firstRun!.exit_code, firstRun!.failure_class], ['one', 'succeeded', 0, null]);
  assert.ok(firstRun!.assigned_at <= firstRun!.running_at! && firstRun!.running_at! <= firstRun!.finished_at!);
  const latest = await ts.client.workerExecutions(daemon.id, { limit: 2 });
  assert.deepEqual(latest.items.map((x) => x.task_id), [tasks[2]!.id, tasks[1]!.id]);
});

test('bad input is refused with the field and why, and changes nothing', async () => {
  const worker = await registerWorker(ts);
  const before = await eventCount();
  const cases: [string, string, unknown, number, RegExp][] = [
    ['PATCH', `/api/v1/workers/${worker.id}`, { draining: 'yes' }, 400, /draining/],
    // The bad field alone: not also "give at least one of …", which it did give.
    ['PATCH', `/api/v1/workers/${worker.id}`, { concurrency: -1 }, 400, /^concurrency: Too small: expected number to be >=0$/],
    ['PATCH', `/api/v1/workers/${worker.id}`, {}, 400, /^\(body\): give at least one of concurrency/],
    ['PATCH', '/api/v1/workers/999999', { draining: true }, 404, /worker 999999/],
    ['DELETE', '/api/v1/workers/abc', undefined, 400, /id/],
    ['DELETE', '/api/v1/workers/999999', undefined, 404, /worker 999999/],
    ['DELETE', `/api/v1/workers/${worker.id}`, undefined, 409, /online/],
    ['GET', `/api/v1/workers/${worker.id}/executions?limit=0`, undefined, 400, /limit/],
    ['GET', `/api/v1/workers/${worker.id}/executions?limit=501`, undefined, 400, /limit/],
    ['GET', '/api/v1/workers/999999/executions', undefined, 404, /worker 999999/],
    ['POST', `/api/v1/workers/${worker.id}/poll`, { instance: worker.instance, want: 0, wait_seconds: 0, metrics: { load1: 1, cpu_percent: 150, memory_used_mb: 1, memory_total_mb: 2, running: 0 } }, 400, /metrics\.cpu_percent/],
    ['POST', `/api/v1/workers/${worker.id}/poll`, { instance: worker.instance, want: 0, wait_seconds: 0, metrics: { load1: 1, cpu_percent: 5, memory_used_mb: 3, memory_total_mb: 2, running: 0 } }, 400, /metrics\.memory_used_mb/],
    ['POST', `/api/v1/workers/${worker.id}/poll`, { instance: worker.instance, want: 0, wait_seconds: 0, leaving: 'soon' }, 400, /leaving/],
  ];
  for (const [method, path, body, status, detail] of cases) {
    const res = await http(ts, method, path, body);
    assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
    assert.match(res.type, /^application\/problem\+json/);
    assert.match(res.json.detail, detail, `${method} ${path}: ${res.json.detail}`);
  }
  assert.equal(await eventCount(), before, 'no refused request wrote an event');
  assert.equal((await ts.client.getWorker(worker.id)).metrics, null, 'no figures kept from a refused exchange');
  // A deleted worker's daemon that comes back is told so, and registering brings it back with the same id.
  const gone = await goneWorker();
  await ts.client.deleteWorker(gone.id);
  await assert.rejects(pollWorker(ts, gone), (error: LabqApiError) => error.status === 404 && /deleted/.test(error.problem.detail!));
  const revived = await registerWorker(ts, { name: gone.name, instance: gone.instance! });
  assert.equal(revived.id, gone.id);
  assert.equal(revived.status, 'online');
});
