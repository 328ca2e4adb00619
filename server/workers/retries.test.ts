// The retry policy through the worker API, driven with the typed client: failure classes
// (reported, inferred for older workers, `lost` from the server), retry_on, the backoff
// (not claimed before retry_at, woken by the reaper after), the memory curve raised after
// `oom`, retry_base, and the validation of all of them. Each test has a server of its own.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { sql } from 'slonik';
import type { FailureClass } from '../../shared/schemas/execution.js';
import type { TaskInput } from '../../shared/schemas/task.js';
import type { Report } from '../../shared/schemas/worker.js';
import { finished } from '../../e2e/support/reports.js';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { settles } from '../../e2e/support/worker.js';
import { parkedPoll, pollWorker as poll, registerWorker as register } from '../../e2e/support/workerApi.js';
import { backoffSeconds, nextMemory } from '../commands/taskOutcome.js';
import type { QueueSettings } from '../settings.js';

/** Only to turn a hang into a failure; never an assertion about how long anything took. */
const HANG_MS = 30_000;
const AT_ONCE = { base_seconds: 0, cap_seconds: 0 };

async function server(t: TestContext, settings?: Partial<QueueSettings>): Promise<TestServer> {
  const ts = await startTestServer({ settings });
  t.after(() => ts.close());
  return ts;
}

async function submit(ts: TestServer, task: TaskInput): Promise<number> {
  return (await ts.client.submitTasks(task)).tasks[0]!.id;
}

const failed = (failureClass: FailureClass, status: 'failed' | 'refused' | 'killed' = 'failed'): Report => finished(status, { failure_class: failureClass });

async function claimOne(ts: TestServer, w: Awaited<ReturnType<typeof register>>): Promise<number> {
  const claim = await poll(ts, w, { want: 1 });
  assert.equal(claim.assignments.length, 1, 'one task claimed');
  return claim.assignments[0]!.execution_id;
}

/** The data of the task's execution.finished and execution.lost events, in log order. */
async function ends(ts: TestServer, taskId: number) {
  return (await ts.server.pool.anyFirst(sql.unsafe`
    SELECT data FROM events WHERE type IN ('execution.finished', 'execution.lost') AND (data->>'task_id')::bigint = ${taskId}
    ORDER BY position`)) as any[];
}

test('the backoff doubles from its base up to its cap; the curve gives the next value above the requirement', () => {
  const backoff = { base_seconds: 2, cap_seconds: 60 };
  assert.deepEqual([1, 2, 3, 5, 6, 100].map((n) => backoffSeconds(backoff, n)), [2, 4, 8, 32, 60, 60]);
  assert.equal(backoffSeconds({ base_seconds: 0, cap_seconds: 0 }, 7), 0);
  assert.deepEqual([4000, 5000, 8000, 16000].map((mb) => nextMemory([4000, 8000, 16000], mb)), [8000, 8000, 16000, null]);
  assert.equal(nextMemory(null, 4000), null);
});

test('a failure waits out its backoff: not claimed before retry_at, claimed after, woken by the reaper', async (t) => {
  const ts = await server(t, { leaseSeconds: 600 });
  const w = await register(ts, { tags: ['bk'] });
  const task = await submit(ts, { command: 'flaky', tag: 'bk', max_retries: 3, backoff: { base_seconds: 2, cap_seconds: 60 } });
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('exit')] });
  const [end] = await ends(ts, task);
  assert.equal(end.task_status, 'pending');
  assert.equal(end.failure_class, 'exit');
  const pending = await ts.client.getTask(task);
  assert.equal(pending.status, 'pending');
  assert.equal(Date.parse(pending.retry_at!), Date.parse(end.retry_at), 'the row says when, as the event does');

  // Parked for up to 60 s (a lease of 600 s): an answer before HANG_MS comes from a wake-up.
  const parked = await parkedPoll(ts, w, { want: 1, settings_version: w.settings_version });
  const answer = await settles('the parked poll woken', parked.response, HANG_MS);
  assert.deepEqual(answer.assignments.map((a) => [a.task.id, a.attempt]), [[task, 2]]);
  const second = await ts.client.getExecution(answer.assignments[0]!.execution_id);
  assert.ok(Date.parse(second.assigned_at) >= Date.parse(end.retry_at), `claimed at ${second.assigned_at}, not before ${end.retry_at}`);
  assert.equal((await ts.client.getTask(task)).retry_at, null, 'claimed: no longer backing off');

  // A long backoff keeps the task from every claim.
  const v = await register(ts, { tags: ['bk-slow'] });
  const slow = await submit(ts, { command: 'slow', tag: 'bk-slow', max_retries: 1, backoff: { base_seconds: 3600, cap_seconds: 3600 } });
  await ts.client.sendReports(await claimOne(ts, v), { reports: [failed('timeout')] });
  assert.deepEqual((await poll(ts, v, { want: 5 })).assignments, [], 'backing off for an hour');
  assert.equal((await ts.client.getTask(slow)).status, 'pending');
});

test('retry_on decides which failures are retried; refused and killed are not by default', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['on'] });
  const noExit = await submit(ts, { command: 'a', tag: 'on', max_retries: 5, backoff: AT_ONCE, retry_on: ['oom', 'timeout'] });
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('exit')] });
  assert.equal((await ts.client.getTask(noExit)).status, 'failed', 'exit is not in its retry_on: final');
  assert.deepEqual((await ts.client.getTask(noExit)).executions.map((x) => [x.status, x.failure_class, x.exit_code]), [['failed', 'exit', 1]]);

  const byDefault = await submit(ts, { command: 'b', tag: 'on', max_retries: 5, backoff: AT_ONCE });
  assert.deepEqual((await ts.client.getTask(byDefault)).retry_on, ['exit', 'timeout', 'oom', 'lost', 'download', 'upload']);
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('download')] });
  assert.equal((await ts.client.getTask(byDefault)).status, 'pending', 'download is retried by default');
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('refused', 'refused')] });
  assert.equal((await ts.client.getTask(byDefault)).status, 'failed', 'refused is not');
  assert.deepEqual((await ts.client.getTask(byDefault)).executions.map((x) => x.failure_class), ['download', 'refused']);

  // A kill nobody asked for (no kill order) follows the policy too: not retried by default, failed rather than cancelled.
  const unasked = await submit(ts, { command: 'c', tag: 'on', max_retries: 5, backoff: AT_ONCE });
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('killed', 'killed')] });
  assert.equal((await ts.client.getTask(unasked)).status, 'failed');
  const retriedKill = await submit(ts, { command: 'd', tag: 'on', max_retries: 5, backoff: AT_ONCE, retry_on: ['killed'] });
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('killed', 'killed')] });
  assert.equal((await ts.client.getTask(retriedKill)).status, 'pending');
});

test('a worker that says no class: its failures read as exit, refused or killed, and count as before', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['old'] });
  const task = await submit(ts, { command: 'x', tag: 'old', max_retries: 1, backoff: AT_ONCE });
  await ts.client.sendReports(await claimOne(ts, w), { reports: [finished('failed', { exit_code: 2, peak_memory_bytes: 10 })] });
  await ts.client.sendReports(await claimOne(ts, w), { reports: [finished('refused', { error: 'no' })] });
  const detail = await ts.client.getTask(task);
  assert.equal(detail.status, 'failed');
  assert.deepEqual(detail.executions.map((x) => [x.failure_class, x.cpu_seconds]), [['exit', null], ['refused', null]]);
  assert.deepEqual((await ends(ts, task)).map((d) => [d.failure_class, d.task_status]), [['exit', 'pending'], ['refused', 'failed']]);
});

test('lost executions: class lost, retried at once up to maxLostExecutions; a task whose retry_on leaves lost out fails at its first loss', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['lo'] });
  const task = await submit(ts, { command: 'x', tag: 'lo', backoff: { base_seconds: 600, cap_seconds: 600 } });
  await claimOne(ts, w);
  await poll(ts, w, { holding: [] });
  const [lost] = await ends(ts, task);
  assert.deepEqual([lost.failure_class, lost.task_status, lost.retry_at], ['lost', 'pending', null], 'no backoff after a loss');
  assert.equal((await claimOne(ts, w)) > 0, true, 'claimable at once');
  assert.equal((await ts.client.getTask(task)).executions[0]!.failure_class, 'lost');

  const other = await register(ts, { tags: ['lo-once'] });
  const once = await submit(ts, { command: 'y', tag: 'lo-once', retry_on: ['exit'] });
  const x = await claimOne(ts, other);
  await poll(ts, other, { holding: [] });
  assert.equal((await ts.client.getExecution(x)).failure_class, 'lost');
  assert.equal((await ts.client.getTask(once)).status, 'failed');
});

test('an oom failure raises the memory requirement along the curve; only a worker with that much claims the retry', async (t) => {
  const ts = await server(t);
  const small = await register(ts, { tags: ['mem'], memory_mb: 5000 });
  const big = await register(ts, { tags: ['mem'], memory_mb: 20000 });
  const task = await submit(ts, { command: 'x', tag: 'mem', max_retries: 3, backoff: AT_ONCE, requirements: { memory_mb: [4000, 8000, 16000] } });
  const submitted = await ts.client.getTask(task);
  assert.deepEqual([submitted.requirements.memory_mb, submitted.memory_curve], [4000, [4000, 8000, 16000]]);
  await ts.client.sendReports(await claimOne(ts, small), { reports: [failed('oom')] });
  const [first] = await ends(ts, task);
  assert.deepEqual([first.failure_class, first.memory_mb, first.task_status], ['oom', 8000, 'pending']);
  assert.equal((await ts.client.getTask(task)).requirements.memory_mb, 8000);
  assert.deepEqual((await poll(ts, small, { want: 1 })).assignments, [], 'the small worker no longer fits it');
  const claim = await poll(ts, big, { want: 1 });
  assert.equal(claim.assignments[0]!.task.requirements.memory_mb, 8000, 'the assignment carries the new requirement');

  // Another class of failure leaves the requirement as it is; oom at the top of the curve too.
  await ts.client.sendReports(claim.assignments[0]!.execution_id, { reports: [failed('exit')] });
  assert.equal((await ends(ts, task))[1].memory_mb, null);
  await ts.client.sendReports(await claimOne(ts, big), { reports: [failed('oom')] });
  assert.equal((await ts.client.getTask(task)).requirements.memory_mb, 16000);
  await ts.client.sendReports(await claimOne(ts, big), { reports: [failed('oom')] });
  assert.deepEqual((await ends(ts, task)).map((d) => d.task_status), ['pending', 'pending', 'pending', 'failed'], 'max_retries still bounds it');
  assert.equal((await ts.client.getTask(task)).requirements.memory_mb, 16000);
});

test('failures count from the attempt after retry_base (what a relaunch moves)', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['rb'] });
  const task = await submit(ts, { command: 'x', tag: 'rb', max_retries: 1, backoff: AT_ONCE });
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('exit')] });
  await ts.server.pool.query(sql.unsafe`UPDATE tasks SET retry_base = 1 WHERE id = ${task}`);
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('exit')] });
  assert.equal((await ts.client.getTask(task)).status, 'pending', 'the first failure no longer counts');
  await ts.client.sendReports(await claimOne(ts, w), { reports: [failed('exit')] });
  assert.equal((await ts.client.getTask(task)).status, 'failed', 'two failures since retry_base, with max_retries 1');
});

test('bad retry policies and reports are refused with 400, naming the field', async (t) => {
  const ts = await server(t);
  const cases: [unknown, string][] = [
    [{ command: 'x', requirements: { memory_mb: [8000, 4000] } }, 'requirements.memory_mb'],
    [{ command: 'x', backoff: { base_seconds: 60, cap_seconds: 10 } }, 'backoff.cap_seconds'],
    [{ command: 'x', retry_on: ['exit', 'segfault'] }, 'retry_on[1]'],
    [{ command: 'x', retry_on: ['exit', 'exit'] }, 'retry_on'],
  ];
  for (const [body, field] of cases) {
    const answer = await http(ts, 'POST', '/api/v1/tasks', body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.ok(answer.json.errors.some((e: { field: string }) => e.field === field), `${JSON.stringify(answer.json.errors)} names ${field}`);
  }
  assert.equal((await ts.client.listTasks({})).items.length, 0, 'nothing was submitted');

  const w = await register(ts, { tags: ['bad'] });
  await submit(ts, { command: 'x', tag: 'bad' });
  const x = await claimOne(ts, w);
  const answer = await http(ts, 'POST', `/api/v1/executions/${x}/reports`, { reports: [{ ...failed('oom'), status: 'refused' }] });
  assert.equal(answer.status, 400);
  assert.equal(answer.json.errors[0].field, 'reports[0].failure_class');
  assert.equal((await ts.client.getExecution(x)).status, 'assigned', 'nothing changed');
});
