// Schedules fired by the clock: a schedule of every second fires once a second with two
// server processes on one database (none twice, none missed), a server stopped over due
// times catches up per the schedule's policy, and the overlap policies skip or queue a run
// while the previous one's tasks are live.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sql } from 'slonik';
import { API_PREFIX } from '../shared/api.js';
import type { ScheduleInput } from '../shared/schemas/schedule.js';
import { freePort, http, startTestServer, TEST_SECRET_KEY, type TestServer } from './support/server.js';
import { until } from './support/worker.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const EVERY_SECOND = '* * * * * *';
const S = `${API_PREFIX}/schedules`;

/** `labq server` as a process of its own on the database. */
async function serverProcess(databaseUrl: string): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'labq-schedules-'));
  const port = await freePort();
  const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, 'server', '--host', '127.0.0.1', '--port', String(port), '--database-url', databaseUrl, '--data-dir', dataDir], {
    env: { ...process.env, LABQ_SECRET_KEY: TEST_SECRET_KEY }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await until('the second server process to answer', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, 30_000);
  return {
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function create(ts: TestServer, body: ScheduleInput): Promise<number> {
  const answer = await http(ts, 'POST', S, body);
  assert.equal(answer.status, 201, answer.text);
  return answer.json.id;
}

interface Run { run: number; due: number; status: string; reason: string | null; task_ids: number[]; fired_by: string }
const runsOf = async (ts: TestServer, id: number): Promise<Run[]> =>
  (await ts.server.pool.any(sql.unsafe`
    SELECT run, extract(epoch FROM due_at) * 1000 AS due, status, reason, task_ids, fired_by FROM schedule_runs
    WHERE schedule_id = ${id} ORDER BY due_at, run`)).map((r: any) => ({ ...r, due: Number(r.due) }));
const eventsOf = async (ts: TestServer, id: number) =>
  (await ts.server.pool.any(sql.unsafe`
    SELECT type, data FROM events WHERE stream_type = 'schedule' AND stream_id = ${id} ORDER BY version`)) as { type: string; data: any }[];

/** Every second from the first due time to the last appears exactly once among the due times covered. */
function assertEverySecondOnce(covered: number[]): void {
  const sorted = [...covered].sort((x, y) => x - y);
  assert.equal(new Set(sorted).size, sorted.length, `a due time twice: ${sorted.map((d) => new Date(d).toISOString()).join(' ')}`);
  for (let i = 1; i < sorted.length; i++) assert.equal(sorted[i]! - sorted[i - 1]!, 1000, `a due time missed after ${new Date(sorted[i - 1]!).toISOString()}`);
}

test('two server processes on one database fire a schedule of every second once a second: none twice, none missed', async () => {
  const a = await startTestServer();
  cleanups.push(() => a.close());
  const b = await serverProcess(a.databaseUrl);
  cleanups.push(b.stop);
  const id = await create(a, { name: 'every-second', cron: EVERY_SECOND, context: { n: 'x' }, submit: { tasks: [{ command: 'echo {n}', tag: 'nobody' }] } });
  await until('8 runs', async () => (await runsOf(a, id)).length >= 8, 30_000);
  assert.equal((await http(a, 'POST', `${S}/${id}/disable`)).status, 200);
  const runs = await runsOf(a, id);
  assert.ok(runs.every((r) => r.status === 'fired' && r.fired_by === 'clock' && r.task_ids.length === 1), JSON.stringify(runs));
  assertEverySecondOnce(runs.map((r) => r.due));
  const tasks = Number(await a.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM tasks WHERE command = 'echo x'`));
  assert.equal(tasks, runs.length);
  await b.stop();
});

test('a server stopped over due times catches up per policy: skip skips them, run_once runs the latest once', async () => {
  const first = await startTestServer();
  const submit = { tasks: [{ command: 'true', tag: 'nobody' }] };
  const skip = await create(first, { name: 'catch-up-skip', cron: EVERY_SECOND, submit, catch_up: 'skip' });
  const once = await create(first, { name: 'catch-up-once', cron: EVERY_SECOND, submit, catch_up: 'run_once' });
  await until('a run of each', async () => (await runsOf(first, skip)).length > 0 && (await runsOf(first, once)).length > 0, 30_000);
  await first.close();
  const stoppedAt = Date.now();
  // Down for longer than a due time may be late before it counts as missed (CATCH_UP_AFTER_MS).
  await until('8 seconds of downtime', async () => Date.now() - stoppedAt > 8000, 20_000);
  const back = await startTestServer({ databaseUrl: first.databaseUrl });
  cleanups.push(() => back.close());
  const restartedAt = Date.now();
  await until('runs after the restart', async () => {
    const after = async (id: number) => (await runsOf(back, id)).filter((r) => r.status === 'fired' && r.due > restartedAt).length >= 2;
    return (await after(skip)) && (await after(once));
  }, 30_000);
  for (const id of [skip, once]) await http(back, 'POST', `${S}/${id}/disable`);

  for (const id of [skip, once]) {
    const events = await eventsOf(back, id);
    const caughtUp = events.filter((e) => e.type === 'schedule.skipped');
    assert.equal(caughtUp.length, 1, JSON.stringify(caughtUp));
    const { due_at, last_due_at, missed, reason } = caughtUp[0]!.data;
    assert.equal(reason, 'catch_up');
    const from = Date.parse(due_at);
    const until = Date.parse(last_due_at);
    assert.equal(missed, (until - from) / 1000 + 1);
    assert.ok(missed >= 3, `missed ${missed}`);
    const fired = (await runsOf(back, id)).filter((r) => r.status === 'fired').map((r) => r.due);
    const covered = [...fired, ...Array.from({ length: missed }, (_, i) => from + i * 1000)];
    assertEverySecondOnce(covered);
    // The latest due time fired, right after the skipped ones: with skip too, since at most a
    // second late it was not missed (the next test tells the two policies apart).
    assert.ok(fired.includes(until + 1000), 'the latest due time fired');
  }
});

test('back a moment after a due time, skip fires it and skips only what is more than 5 s late; run_once fires the latest however late', async () => {
  const first = await startTestServer();
  let firstUp = true;
  cleanups.push(async () => firstUp && first.close());
  const submit = { tasks: [{ command: 'true', tag: 'nobody' }] };
  // Just after a ten-second boundary Y0: nothing below is due before the server stops.
  await until('a ten-second boundary', async () => Date.now() % 10_000 < 1000, 15_000);
  const y0 = Math.floor(Date.now() / 10_000) * 10_000;
  const onTens = await create(first, { name: 'tens-skip', cron: '*/10 * * * * *', submit, catch_up: 'skip' });
  const onFives = await create(first, { name: 'fives-skip', cron: '5-59/10 * * * * *', submit, catch_up: 'skip' });
  const onFivesOnce = await create(first, { name: 'fives-once', cron: '5-59/10 * * * * *', submit, catch_up: 'run_once' });
  await first.close();
  firstUp = false;
  // Back half a second after Y0 + 20: due at Y0 + 10 and Y0 + 5 were missed, Y0 + 15 is 5.5 s late, Y0 + 20 on time.
  await until('Y0 + 20.5 s', async () => Date.now() >= y0 + 20_500, 30_000);
  const back = await startTestServer({ databaseUrl: first.databaseUrl });
  cleanups.push(() => back.close());
  await until('the catch-up of each', async () => {
    for (const id of [onTens, onFives, onFivesOnce]) if (!(await runsOf(back, id)).some((r) => r.reason === 'catch_up')) return false;
    return true;
  }, 15_000);
  for (const id of [onTens, onFives, onFivesOnce]) await http(back, 'POST', `${S}/${id}/disable`);
  const shape = async (id: number) => (await runsOf(back, id)).filter((r) => r.due <= y0 + 20_000).map((r) => [r.due - y0, r.status, r.reason]);
  assert.deepEqual(await shape(onTens), [[10_000, 'skipped', 'catch_up'], [20_000, 'fired', null]]);
  assert.deepEqual(await shape(onFives), [[5_000, 'skipped', 'catch_up']]);
  assert.deepEqual(await shape(onFivesOnce), [[5_000, 'skipped', 'catch_up'], [15_000, 'fired', null]]);
  const missed = async (id: number) => (await eventsOf(back, id)).find((e) => e.type === 'schedule.skipped')!.data.missed;
  assert.deepEqual([await missed(onTens), await missed(onFives), await missed(onFivesOnce)], [1, 2, 1]);
});

test('overlap: skip skips a run while the previous one is live; queue holds one and fires it when they end', async () => {
  const ts = await startTestServer();
  cleanups.push(() => ts.close());
  const submit = { tasks: [{ command: 'sleep 1000', tag: 'nobody' }] };
  const skip = await create(ts, { name: 'overlap-skip', cron: EVERY_SECOND, submit, overlap: 'skip' });
  const queue = await create(ts, { name: 'overlap-queue', cron: EVERY_SECOND, submit, overlap: 'queue' });
  await until('three due times of each', async () => (await runsOf(ts, skip)).length >= 3 && (await runsOf(ts, queue)).length >= 2, 30_000);
  await http(ts, 'POST', `${S}/${skip}/disable`);

  const skipRuns = await runsOf(ts, skip);
  assert.equal(skipRuns[0]!.status, 'fired', JSON.stringify(skipRuns));
  assert.ok(skipRuns.slice(1).every((r) => r.status === 'skipped' && r.reason === 'overlap'), JSON.stringify(skipRuns));
  assert.equal(skipRuns.filter((r) => r.status === 'fired').length, 1);

  const queueEvents = await eventsOf(ts, queue);
  const queued = queueEvents.find((e) => e.type === 'schedule.queued');
  assert.ok(queued, JSON.stringify(queueEvents.map((e) => e.type)));
  const [firstRun] = await runsOf(ts, queue);
  assert.equal((await ts.client.call('cancelTasks', { body: { filter: { ids: firstRun!.task_ids } } })).matched, 1);
  const late = await until('the queued run to fire', async () =>
    (await eventsOf(ts, queue)).find((e) => e.type === 'schedule.fired' && e.data.queued === true), 30_000);
  await http(ts, 'POST', `${S}/${queue}/disable`);
  assert.equal(late.data.due_at, queued.data.due_at);
  const types = (await eventsOf(ts, queue)).map((e) => e.type);
  // Between the queued due time and its firing, later due times were skipped (one run queues at most).
  const between = types.slice(types.indexOf('schedule.queued') + 1, types.lastIndexOf('schedule.fired'));
  assert.ok(between.every((t) => t === 'schedule.skipped'), types.join(' '));
});
