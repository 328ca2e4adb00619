// The overview (GET /stats) and the stuck flag of steps and workflows, from real tasks run
// by a real worker daemon: counts, the finishes per minute against the executions table,
// a failure with its class, workers, why work waits (read whole, and from a sample past
// 10,000 pending tasks), and a step stuck until a worker that can take its work registers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { startTestWorker, taskEnded } from '../../e2e/support/worker.js';
import { registerWorker } from '../../e2e/support/workerApi.js';
import { LabqApiError } from '../../shared/client.js';
import { PENDING_SAMPLE } from '../queries/stats.js';

let ts: TestServer;
const daemons: { stop(): Promise<void> }[] = [];

before(async () => {
  ts = await startTestServer();
});
after(async () => {
  for (const d of daemons) await d.stop();
  await ts.close();
});

const submit = async (task: Parameters<typeof ts.client.submitTasks>[0]) => (await ts.client.submitTasks(task)).tasks[0]!.id;
const sum = (items: readonly { succeeded: number; failed: number }[], key: 'succeeded' | 'failed') => items.reduce((n, m) => n + m[key], 0);
const waitingBy = (waiting: readonly { code: string; count: number }[]) => Object.fromEntries(waiting.map((w) => [w.code, w.count]));

test('the overview counts real tasks and executions, and lists a failure with its class', async () => {
  const worker = await startTestWorker(ts, { tags: ['stats'], concurrency: 2 });
  daemons.push(worker);
  const ok = [await submit({ command: 'true', tag: 'stats' }), await submit({ command: 'echo hi', tag: 'stats' }), await submit({ command: 'true', tag: 'stats' })];
  const exit = await submit({ name: 'exits-3', command: 'exit 3', tag: 'stats' });
  await taskEnded(ts, exit);
  // Then an input that cannot be fetched, under a path long enough to make an error of more than 300 characters.
  const download = await submit({ command: 'true', tag: 'stats', inputs: [`file:///nonexistent/${'a'.repeat(200)}/${'b'.repeat(200)}`] });
  for (const id of [...ok, download]) await taskEnded(ts, id);
  await submit({ command: 'true', tag: 'stats', held: true });
  await submit({ command: 'true', tag: 'nobody-serves-this' });
  await submit({ command: 'true', tag: 'nor-this' });

  const stats = await ts.client.stats();
  assert.deepEqual(stats.counts, { held: 1, pending: 2, succeeded: 3, failed: 2 });
  assert.deepEqual(waitingBy(stats.waiting), { no_worker_for_tag: 2, held: 1 });
  assert.equal(stats.waiting[0]!.code, 'no_worker_for_tag', 'most frequent first');
  // One reason over two tags: a message for each, in a list rather than run together.
  assert.deepEqual([...stats.waiting[0]!.messages].sort(), ['no online worker takes its tag "nobody-serves-this"', 'no online worker takes its tag "nor-this"']);
  assert.equal(stats.waiting[0]!.more_messages, 0);
  assert.deepEqual(stats.waiting[1], { code: 'held', count: 1, messages: ['release them to run them'], more_messages: 0 });
  assert.equal(stats.waiting_estimated, false);
  assert.deepEqual(stats.workers, { online: 1, offline: 0, lost: 0, slots: 2, busy: 0 });

  const [latest, earlier] = stats.recent_failures;
  const downloadTask = await ts.client.getTask(download);
  assert.equal(stats.recent_failures.length, 2);
  assert.equal(latest!.task_id, download, 'latest first');
  assert.equal(latest!.failure_class, 'download');
  assert.equal(latest!.execution_id, downloadTask.execution_id);
  assert.equal(latest!.worker_id, worker.id);
  assert.equal(latest!.worker_name, worker.name);
  const fullError = downloadTask.executions[0]!.error!;
  assert.ok(fullError.length > 300, fullError);
  assert.equal(latest!.error, fullError.slice(0, 300));
  assert.deepEqual(
    { task_id: earlier!.task_id, task_name: earlier!.task_name, attempt: earlier!.attempt, failure_class: earlier!.failure_class, exit_code: earlier!.exit_code },
    { task_id: exit, task_name: 'exits-3', attempt: 1, failure_class: 'exit', exit_code: 3 },
  );

  const finished = await ts.server.pool.one(sql.unsafe`
    SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded, count(*) FILTER (WHERE failure_class IS NOT NULL)::int AS failed
    FROM executions WHERE finished_at IS NOT NULL`);
  assert.deepEqual(finished, { succeeded: 3, failed: 2 });
  assert.equal(stats.finished_per_minute.length, 60);
  assert.deepEqual({ succeeded: sum(stats.finished_per_minute, 'succeeded'), failed: sum(stats.finished_per_minute, 'failed') }, finished);

  const day = (await ts.client.stats({ minutes: 1440 })).finished_per_minute;
  assert.equal(day.length, 1440);
  assert.deepEqual({ succeeded: sum(day, 'succeeded'), failed: sum(day, 'failed') }, finished);
  const minutes = day.map((m) => Date.parse(m.minute));
  assert.ok(minutes.every((t, i) => i === 0 || t - minutes[i - 1]! === 60_000), 'every minute, oldest first');
  assert.ok(minutes.every((t) => t % 60_000 === 0), 'each at the start of its minute');
  assert.equal((await ts.client.stats({ minutes: 1 })).finished_per_minute.length, 1);
});

// Before the test of stuck steps, whose wildcard worker takes every tag.
test('a reason whose tasks wait for more things than it lists names those of the most tasks, and counts the others', async () => {
  const step = await ts.client.createStep({ workflow_id: (await ts.client.createWorkflow({ name: 'many-tags' })).id, name: 'unserved' });
  // Tag none-k gets 6 − k tasks: none-1 the most.
  await ts.client.submitTasks({ tasks: [1, 2, 3, 4, 5].flatMap((k) => Array.from({ length: 6 - k }, () => ({ command: 'true', tag: `none-${k}`, step_id: step.id }))) });
  const why = await ts.client.call('whyStep', { params: { id: step.id } });
  assert.deepEqual(why.reasons, [{
    code: 'no_worker_for_tag', count: 15, more_messages: 2,
    messages: [1, 2, 3].map((k) => `no online worker takes its tag "none-${k}"`),
  }]);
});

test('a step is stuck while no online, unpaused worker can take its pending work', async () => {
  const workflow = await ts.client.createWorkflow({ name: 'stuck' });
  const step = await ts.client.createStep({ workflow_id: workflow.id, name: 'lonely' });
  const other = await ts.client.createStep({ workflow_id: workflow.id, name: 'served' });
  const isStuck = async () => {
    const listed = (await ts.client.listSteps({ workflow_id: workflow.id })).items;
    const byId = Object.fromEntries(listed.map((s) => [s.id, s.stuck]));
    assert.equal((await ts.client.getStep(step.id)).stuck, byId[step.id], 'one step reads as in the list');
    assert.equal(byId[other.id], false, 'a step without pending work is never stuck');
    const flow = (await ts.client.listWorkflows({ q: 'stuck' })).items.find((w) => w.id === workflow.id)!;
    assert.equal((await ts.client.getWorkflow(workflow.id)).stuck, flow.stuck);
    assert.equal(flow.stuck, byId[step.id], 'its workflow is stuck with it');
    return byId[step.id];
  };
  assert.equal(await isStuck(), false);
  await submit({ command: 'true', tag: 'later', step_id: step.id });
  assert.equal(await isStuck(), true, 'no worker takes tag "later"');

  const small = await registerWorker(ts, { tags: ['later'], memory_mb: 1024, concurrency: 1 });
  assert.equal(await isStuck(), false, 'a worker that takes the tag registered');
  await submit({ command: 'true', tag: 'later', step_id: step.id, requirements: { memory_mb: 2048 } });
  assert.equal(await isStuck(), true, 'the one worker of the tag lacks the memory of one task');
  const big = await registerWorker(ts, { tags: ['*'], memory_mb: 4096, concurrency: 1 });
  assert.equal(await isStuck(), false, 'a wildcard worker with the memory registered');
  await ts.client.updateWorker(big.id, { paused: true });
  assert.equal(await isStuck(), true, 'a paused worker takes nothing');
  await ts.client.updateWorker(big.id, { paused: false, concurrency: 0 });
  assert.equal(await isStuck(), true, 'nor one at concurrency 0');
  await ts.client.updateWorker(big.id, { concurrency: 1 });
  assert.equal(await isStuck(), false);

  await ts.client.updateWorker(small.id, { paused: true });
  await ts.client.updateWorker(big.id, { paused: true });
  await ts.client.call('pauseStep', { params: { id: step.id }, body: {} });
  assert.equal(await isStuck(), false, 'paused work is held on purpose, not stuck');
});

test('bad minutes are refused with 400 naming the field', async () => {
  for (const minutes of ['0', '1441', 'x', '1.5', '-3']) {
    const res = await http(ts, 'GET', `/api/v1/stats?minutes=${minutes}`);
    assert.equal(res.status, 400, `${minutes}: ${res.text}`);
    assert.match(res.type, /^application\/problem\+json/);
    assert.deepEqual(res.json.errors.map((e: { field: string }) => e.field), ['minutes'], minutes);
  }
  await assert.rejects(ts.client.stats({ minutes: 2000 }), (e: unknown) => e instanceof LabqApiError && e.status === 400);
});

test(`past ${PENDING_SAMPLE} pending tasks, why they wait is read from the oldest and scaled`, async () => {
  const big = await startTestServer();
  try {
    await registerWorker(big, { tags: ['served'], concurrency: 1 });
    const half = 6_000;
    for (let batch = 0; batch < 2; batch++) {
      await big.client.submitTasks({ tasks: Array.from({ length: half }, (_, i) => ({ command: 'true', tag: i % 2 ? 'served' : 'unserved' })) });
    }
    const stats = await big.client.stats();
    assert.equal(stats.counts.pending, 2 * half);
    assert.equal(stats.waiting_estimated, true);
    // The oldest 10,000 alternate between the tags: half of them each, scaled to all 12,000.
    assert.deepEqual(waitingBy(stats.waiting), { queued: half, no_worker_for_tag: half });
  } finally {
    await big.close();
  }
});
