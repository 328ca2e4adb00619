// Suspend and continue on the server: the routes (404, 409, idempotence), the set-based
// commands (which tasks they change and why they skip the others), the executions
// projection, the task's history, and the worker's side of it: the poll answer's `suspend`
// list, and a parked poll that ends when that list changes, and only then; an execution that
// ends while suspended is suspended no more, inline, after a rebuild and after the migration
// that sets the rows projected before.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { sql } from 'slonik';
import { LabqApiError } from '../../shared/client.js';
import type { EventMeta } from '../../shared/events.js';
import { finished } from '../../e2e/support/reports.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { parkedPoll, pollWorker as poll, registerWorker as register } from '../../e2e/support/workerApi.js';
import { rebuildProjections } from '../admin/rebuild.js';
import { SQL_DIR } from '../db/migrate.js';
import { continueTasks, suspendTasks } from './signalExecutions.js';

/** Only to turn a hang into a failure; never an assertion about how long anything took. */
const HANG_MS = 30_000;
const META: EventMeta = { actor: 'signal-test', request_id: null, source: null };

let ts: TestServer;
before(async () => {
  // A long lease: a parked poll waits up to its 60 s, so an answer within HANG_MS comes from a wake-up.
  ts = await startTestServer({ settings: { leaseSeconds: 600 } });
});
after(async () => ts.close());

async function rejectsWith(status: number, promise: Promise<unknown>, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof LabqApiError, String(error));
    assert.equal(error.status, status, error.message);
    assert.match(error.problem.detail ?? '', detail);
    return true;
  });
}

/** A worker of its own tag holding one claimed task of it: the task, its execution, the worker. */
async function claimedTask(tag: string) {
  const w = await register(ts, { tags: [tag] });
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'sleep 1000', tag });
  const claim = await poll(ts, w, { want: 1 });
  return { w, task: task!.id, x: claim.assignments[0]!.execution_id, settingsVersion: claim.settings_version };
}

test('suspend and continue one task: its execution, the worker\'s poll answers and the task\'s history', async () => {
  const { w, task, x } = await claimedTask('sc');
  const bystander = await register(ts, { tags: ['sc'] });
  assert.equal((await ts.client.getExecution(x)).suspended, false);

  assert.deepEqual(await ts.client.suspendTask(task), { result: 'suspend_requested', execution_id: x });
  assert.deepEqual(await ts.client.suspendTask(task), { result: 'already_suspended', execution_id: x }, 'asking twice is fine');
  const suspended = await ts.client.getExecution(x);
  assert.equal(suspended.suspended, true);
  assert.ok(suspended.suspended_at !== null && suspended.suspended_at >= suspended.assigned_at);
  assert.equal((await ts.client.getTask(task)).status, 'assigned', 'the task keeps its status: suspended is a state of its execution');
  assert.deepEqual((await poll(ts, w, { holding: [x] })).suspend, [x], 'an execution not started yet is listed: it is suspended as it starts');
  assert.deepEqual((await poll(ts, bystander)).suspend, [], 'only its own worker is told');

  assert.deepEqual(await ts.client.continueTask(task), { result: 'continue_requested', execution_id: x });
  assert.deepEqual(await ts.client.continueTask(task), { result: 'not_suspended', execution_id: x });
  assert.deepEqual([(await ts.client.getExecution(x)).suspended, (await ts.client.getExecution(x)).suspended_at], [false, null]);
  assert.deepEqual((await poll(ts, w, { holding: [x] })).suspend, []);

  const history = (await ts.client.taskEvents(task)).items.filter((e) => e.type.startsWith('execution.') && e.type.endsWith('_requested'));
  assert.deepEqual(history.map((e) => [e.type, e.data]), [
    ['execution.suspend_requested', { task_id: task }],
    ['execution.continue_requested', { task_id: task }],
  ]);
  assert.ok(history.every((e) => String(e.meta.actor).startsWith('admin-')), 'recorded with the token that asked');
});

test('the routes refuse an unknown task (404) and a task with no live execution (409), changing nothing', async () => {
  await rejectsWith(404, ts.client.suspendTask(999_999), /task 999999 does not exist/);
  await rejectsWith(404, ts.client.continueTask(999_999), /task 999999 does not exist/);
  const { tasks: [pending] } = await ts.client.submitTasks({ command: 'true', tag: 'nobody-takes-it' });
  await rejectsWith(409, ts.client.suspendTask(pending!.id), /is pending: it has no live execution/);
  await rejectsWith(409, ts.client.continueTask(pending!.id), /is pending: it has no live execution/);

  const { w, task, x } = await claimedTask('ended');
  await ts.client.suspendTask(task);
  await ts.client.sendReports(x, { reports: [finished()] });
  await rejectsWith(409, ts.client.suspendTask(task), /is succeeded: it has no live execution/);
  await rejectsWith(409, ts.client.continueTask(task), /is succeeded: it has no live execution/);
  assert.deepEqual((await poll(ts, w)).suspend, [], 'an ended execution is no longer listed');
  assert.deepEqual((await ts.client.taskEvents(pending!.id)).items.map((e) => e.type), ['task.submitted']);
});

test('a parked poll ends when its worker\'s suspend list changes, not while it holds that list', async () => {
  const { w, task, x, settingsVersion } = await claimedTask('park');
  const body = { want: 0, holding: [x], settings_version: settingsVersion };

  const parked = await parkedPoll(ts, w, body);
  assert.deepEqual(await ts.client.suspendTask(task), { result: 'suspend_requested', execution_id: x });
  await until('the parked poll to answer', async () => parked.settled(), HANG_MS);
  const told = await parked.response;
  assert.deepEqual(told.suspend, [x]);

  // The worker now holds it suspended: a wake-up for this worker (its other task is killed:
  // a kill order, which `killing` then covers) finds nothing new about the suspension.
  const { tasks: [other] } = await ts.client.submitTasks({ command: 'sleep 1000', tag: 'park' });
  const y = (await poll(ts, w, { want: 1, holding: [x], suspended: [x] })).assignments[0]!.execution_id;
  const holding = await parkedPoll(ts, w, { ...body, holding: [x, y], suspended: [x], killing: [y] });
  const rounds = holding.roundsSeen();
  await ts.client.killTask(other!.id);
  await until('the parked poll to look', async () => holding.roundsSeen() > rounds, HANG_MS);
  assert.equal(holding.settled(), false, 'the suspension it holds and the kill it carries out are not news');

  await ts.client.continueTask(task);
  await until('the parked poll to answer', async () => holding.settled(), HANG_MS);
  const continued = await holding.response;
  assert.deepEqual(continued.suspend, []);
  assert.deepEqual(continued.kill.map((k) => k.execution_id), [y]);
});

test('the commands are set-based: they change what they can and say why they skip the rest', async () => {
  const { w, task: running, x } = await claimedTask('set');
  const { tasks: [more, killed, uploading, pending] } = await ts.client.submitTasks({
    tasks: [{ command: 'a', tag: 'set' }, { command: 'b', tag: 'set' }, { command: 'c', tag: 'set' }, { command: 'd', tag: 'set-none' }],
  });
  const claimed = (await poll(ts, w, { want: 3, holding: [x] })).assignments;
  const execution = (id: number) => claimed.find((a) => a.task.id === id)!.execution_id;
  await ts.client.killTask(killed!.id);
  await ts.client.sendReports(execution(uploading!.id), { reports: [{ kind: 'phase', phase: 'running' }, { kind: 'phase', phase: 'uploading' }] });
  await ts.client.suspendTask(more!.id);

  const ids = [pending!.id, running, more!.id, killed!.id, uploading!.id, 999_998, running];
  const suspended = await ts.server.pool.transaction((tx) => suspendTasks(tx, ids, META));
  assert.deepEqual(suspended.affected, [{ task_id: running, execution_id: x }], 'each task once');
  assert.deepEqual(suspended.skipped.map((s) => [s.task_id, s.reason, s.execution_id]).sort((a, b) => Number(a[0]) - Number(b[0])), [
    [more!.id, 'already_suspended', execution(more!.id)],
    [killed!.id, 'killing', execution(killed!.id)],
    [uploading!.id, 'run_ended', execution(uploading!.id)],
    [pending!.id, 'not_live', null],
    [999_998, 'not_found', null],
  ].sort((a, b) => Number(a[0]) - Number(b[0])));
  assert.deepEqual(
    (await poll(ts, w, { holding: claimed.map((a) => a.execution_id).concat(x) })).suspend.sort((a, b) => a - b),
    [x, execution(more!.id)].sort((a, b) => a - b),
  );

  const continued = await ts.server.pool.transaction((tx) => continueTasks(tx, ids, META));
  assert.deepEqual(continued.affected.map((a) => a.task_id).sort((a, b) => a - b), [running, more!.id].sort((a, b) => a - b));
  assert.deepEqual(
    continued.skipped.filter((s) => s.execution_id !== null).map((s) => s.reason),
    ['not_suspended', 'not_suspended'],
    'continue does not care about a kill or an upload: it only lifts a suspension',
  );
  const requested = (await ts.client.taskEvents(running)).items.filter((e) => e.type.endsWith('_requested'));
  assert.deepEqual(requested.map((e) => e.meta.actor), ['signal-test', 'signal-test']);
});

test('an execution that ends while suspended (killed, cancelled) is suspended no more, and a rebuild of the log says the same', async () => {
  const killed = await claimedTask('ended-killed');
  await ts.client.suspendTask(killed.task);
  await ts.client.sendReports(killed.x, { reports: [{ kind: 'phase', phase: 'running' }] });
  await ts.client.killTask(killed.task);
  await ts.client.sendReports(killed.x, { reports: [finished('killed')] });
  const cancelled = await claimedTask('ended-cancelled');
  await ts.client.suspendTask(cancelled.task);
  await ts.client.call('holdTask', { params: { id: cancelled.task }, body: {} });

  const ended = async () => Promise.all([killed.x, cancelled.x].map(async (id) => {
    const x = await ts.client.getExecution(id);
    return { status: x.status, suspended: x.suspended, suspended_at: x.suspended_at };
  }));
  const expected = [{ status: 'killed', suspended: false, suspended_at: null }, { status: 'cancelled', suspended: false, suspended_at: null }];
  assert.deepEqual(await ended(), expected);
  assert.deepEqual((await poll(ts, killed.w)).suspend, [], 'its worker is told to hold nothing suspended');
  await rebuildProjections(ts.server.pool);
  assert.deepEqual(await ended(), expected);

  // A row projected before the fix is set so by its migration.
  await ts.server.pool.query(sql.unsafe`UPDATE executions SET suspended = true, suspended_at = now() WHERE id = ${killed.x}`);
  const client = new pg.Client({ connectionString: ts.databaseUrl });
  await client.connect();
  try {
    await client.query(await readFile(new URL('0033_ended_not_suspended.sql', SQL_DIR), 'utf8'));
  } finally {
    await client.end();
  }
  assert.deepEqual(await ended(), expected);
});
