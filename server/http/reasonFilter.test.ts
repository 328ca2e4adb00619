// The task filter by why a task waits (`reason`): each reason produced by a real situation
// (registered workers that poll, pauses, a failure backing off, a cancelled dependency); the
// list, the count and a bulk action select exactly the tasks that GET /stats counts under it,
// and a reason that is not one is refused with the field named.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { finished, running } from '../../e2e/support/reports.js';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';
import { WAITING_REASONS, type TaskInput, type WaitingReasonCode } from '../../shared/schemas/task.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.close();
});

const submit = async (task: TaskInput) => (await ts.client.submitTasks(task)).tasks[0]!.id;

test('list, count and bulk actions filtered by reason select the tasks GET /stats counts under it', async () => {
  const expected: Partial<Record<WaitingReasonCode, number[]>> = {};
  const add = (reason: WaitingReasonCode, id: number) => (expected[reason] ??= []).push(id);

  await registerWorker(ts, { tags: ['fr-a'], memory_mb: 1024, concurrency: 1 });
  add('queued', await submit({ command: 'true', tag: 'fr-a' }));
  add('requirements', await submit({ command: 'true', tag: 'fr-a', requirements: { memory_mb: 4096 } }));
  // The queued task's tag and requirements: only its container (the worker runs bare tasks only) sets it apart.
  add('requirements', await submit({ command: 'true', tag: 'fr-a', container: 'busybox:latest' }));
  add('no_worker_for_tag', await submit({ command: 'true', tag: 'fr-none' }));
  const paused = await registerWorker(ts, { tags: ['fr-p'], concurrency: 1 });
  await ts.client.updateWorker(paused.id, { paused: true });
  add('workers_paused', await submit({ command: 'true', tag: 'fr-p' }));

  // A worker whose one slot holds a task it claimed: the next task of its tag waits for it.
  const busy = await registerWorker(ts, { tags: ['fr-b'], concurrency: 1, prefetch: 0 });
  await submit({ command: 'true', tag: 'fr-b' });
  assert.equal((await pollWorker(ts, busy, { want: 1 })).assignments.length, 1);
  add('workers_busy', await submit({ command: 'true', tag: 'fr-b' }));

  // A failure that backs off for ten minutes, reported by the worker that claimed it.
  const retrying = await registerWorker(ts, { tags: ['fr-r'], concurrency: 1 });
  add('backoff', await submit({ command: 'exit 1', tag: 'fr-r', max_retries: 2, backoff: { base_seconds: 600, cap_seconds: 600 } }));
  const [assignment] = (await pollWorker(ts, retrying, { want: 1 })).assignments;
  await pollWorker(ts, retrying, { reports: [{ execution_id: assignment!.execution_id, reports: [running, finished('failed')] }] });

  await ts.client.call('pauseQueue', { body: { tag: 'fr-q' } });
  add('paused', await submit({ command: 'true', tag: 'fr-q' }));
  add('held', await submit({ command: 'true', tag: 'fr-none', held: true }));
  const upstream = await submit({ command: 'true', tag: 'fr-none', held: true });
  add('dependencies', await submit({ command: 'true', tag: 'fr-a', depends_on: [upstream] }));
  const cancelled = await submit({ command: 'true', tag: 'fr-none', held: true });
  add('blocked', await submit({ command: 'true', tag: 'fr-a', depends_on: [cancelled] }));
  await ts.client.call('cancelTask', { params: { id: cancelled }, body: {} });
  expected.held!.push(upstream);

  const stats = await ts.client.stats();
  for (const reason of WAITING_REASONS) {
    const ids = (expected[reason] ?? []).sort((a, b) => a - b);
    const listed = (await ts.client.listTasks({ reason, limit: 100 })).items.map((t) => t.id);
    assert.deepEqual(listed, ids, `GET /tasks?reason=${reason}`);
    assert.equal((await ts.client.countTasks({ reason })).count, ids.length, `GET /tasks/count?reason=${reason}`);
    assert.equal(stats.waiting.find((w) => w.code === reason)?.count ?? 0, ids.length, `GET /stats' ${reason}`);
  }
  // Combined with the other criteria, as any of them.
  assert.deepEqual((await ts.client.listTasks({ reason: 'held', tag: 'fr-none', status: 'held' })).items.map((t) => t.id).sort((a, b) => a - b), expected.held);

  const held = await ts.client.call('holdTasks', { body: { filter: { reason: 'no_worker_for_tag' } } });
  assert.equal(held.changed, 1, JSON.stringify(held));
  assert.equal((await ts.client.getTask(expected.no_worker_for_tag![0]!)).status, 'held');
});

test('a reason that is not a waiting reason is refused with 400 naming the field, by the list, the count and a bulk action', async () => {
  for (const path of ['/api/v1/tasks?reason=bogus', '/api/v1/tasks/count?reason=running', '/api/v1/tasks?reason=']) {
    const res = await http(ts, 'GET', path);
    assert.equal(res.status, 400, `${path}: ${res.text}`);
    assert.match(res.type, /^application\/problem\+json/);
    assert.deepEqual(res.json.errors.map((e: { field: string }) => e.field), ['reason'], path);
  }
  const res = await http(ts, 'POST', '/api/v1/tasks/hold', { filter: { reason: 'ended' } });
  assert.equal(res.status, 400, res.text);
  assert.deepEqual(res.json.errors.map((e: { field: string }) => e.field), ['filter.reason']);
});
