// Steering through the API at scale and at its edges: a bulk edit of 10,000 pending tasks
// in one request (after its dry run), bad requests that change nothing, pauses of
// everything and of a tag, a claim whose cost does not grow with 100,000 paused tasks, and
// a hold of a task ready for a run slot, which has not started.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { LabqApiError } from '../../shared/client.js';
import { finished, running } from '../../e2e/support/reports.js';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const count = async (query: ReturnType<typeof sql.unsafe>) => Number(await ts.server.pool.oneFirst(query));

test('a bulk edit of 10,000 pending tasks in one request, after a dry run that changes nothing', async () => {
  const step = await ts.client.createStep({ workflow_id: (await ts.client.createWorkflow({ name: 'edit' })).id, name: 'bulk' });
  await ts.client.submitTasks({ tasks: Array.from({ length: 10_000 }, (_, i) => ({ command: `bwa mem ref-v1.fa S${i}.fq`, step_id: step.id, tag: 'nobody' })) });
  const body = { filter: { step_id: step.id, status: ['pending' as const] }, set: { priority: 7 }, replace: { find: 'ref-v(\\d)\\.fa', with: 'ref-v$1.1.fa', regex: true } };

  const dry = await ts.client.call('editTasks', { body: { ...body, dry_run: true } });
  assert.equal(dry.dry_run, true);
  assert.equal(dry.matched, 10_000);
  assert.equal(dry.changed, 10_000);
  assert.equal(dry.sample!.length, 10);
  assert.deepEqual(dry.sample![0]!.before, { command: 'bwa mem ref-v1.fa S0.fq', priority: 0 });
  assert.deepEqual(dry.sample![0]!.after, { command: 'bwa mem ref-v1.1.fa S0.fq', priority: 7 });
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM events WHERE type = 'task.edited'`), 0, 'a dry run writes nothing');

  const done = await ts.client.call('editTasks', { body });
  assert.equal(done.changed, 10_000);
  assert.equal(done.task_ids.length, 1000, 'the answer lists the first thousand');
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM tasks WHERE step_id = ${step.id} AND command LIKE 'bwa mem ref-v1.1.fa S%' AND priority = 7`), 10_000);
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM events WHERE type = 'task.edited'`), 10_000, 'one event per task, with old and new values');

  const again = await ts.client.call('editTasks', { body });
  assert.equal(again.changed, 0);
  assert.equal(again.skipped[0]!.reason, 'no change');
});

test('bad steering requests get a clear 400/404/409 and change nothing', async () => {
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'echo a', tag: 'nobody' });
  const events = await count(sql.unsafe`SELECT count(*) FROM events`);
  const cases: Array<[string, string, unknown, number, string]> = [
    ['POST', '/api/v1/tasks/hold', { filter: {} }, 400, 'filter'],
    ['POST', '/api/v1/tasks/edit', { filter: { all: true } }, 400, '(body)'],
    ['POST', '/api/v1/tasks/edit', { filter: { all: true }, set: { tag: 'no spaces allowed' } }, 400, 'set.tag'],
    ['POST', '/api/v1/tasks/edit', { filter: { all: true }, set: { priority: 5000 } }, 400, 'set.priority'],
    ['POST', '/api/v1/tasks/edit', { filter: { all: true }, set: { key: 'x' } }, 400, 'set.key'],
    ['POST', '/api/v1/tasks/edit', { filter: { ids: [task!.id] }, replace: { find: '(', with: 'x', regex: true } }, 400, 'replace.find'],
    ['POST', '/api/v1/tasks/edit', { filter: { ids: [task!.id] }, replace: { find: 'echo a', with: '' } }, 400, 'replace'],
    ['POST', '/api/v1/tasks/cancel', { filter: { status: ['nope'] } }, 400, 'filter.status[0]'],
    ['PATCH', '/api/v1/tasks/999999', { set: { priority: 1 } }, 404, ''],
    ['POST', '/api/v1/tasks/999999/hold', {}, 404, ''],
    ['POST', `/api/v1/tasks/${task!.id}/release`, {}, 409, ''],
    ['POST', `/api/v1/tasks/${task!.id}/relaunch`, {}, 409, ''],
    ['POST', '/api/v1/steps/999999/pause', {}, 404, ''],
    ['POST', '/api/v1/queue/pause', { tag: 'bad tag' }, 400, 'tag'],
    ['POST', '/api/v1/queue/pause', { signal: 'stop' }, 400, 'signal'],
  ];
  for (const [method, path, body, status, field] of cases) {
    const response = await http(ts, method, path, body);
    const problem = response.json;
    assert.equal(response.status, status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(problem)}`);
    assert.match(response.type, /^application\/problem\+json/);
    if (field) assert.ok(problem.errors.some((e: { field: string }) => e.field === field), `${path}: ${JSON.stringify(problem.errors)}`);
    else assert.ok(problem.detail, 'a detail says why');
  }
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM events`), events, 'nothing was written');
});

test('a pause of everything stops every claim and new submissions arrive paused; a tag pause stays after it', async () => {
  const worker = await registerWorker(ts, { tags: ['free', 'kept'], concurrency: 10 });
  await ts.client.call('pauseQueue', { body: {} });
  await ts.client.call('pauseQueue', { body: { tag: 'kept' } });
  const { tasks } = await ts.client.submitTasks({ tasks: [{ command: 'true', tag: 'free' }, { command: 'true', tag: 'kept' }] });
  assert.deepEqual((await pollWorker(ts, worker, { want: 10 })).assignments, []);
  for (const t of tasks) assert.equal((await ts.client.getTask(t.id)).paused, true);
  assert.deepEqual((await ts.client.call('listPauses')).items.map((p) => [p.scope, p.tag]), [['all', null], ['tag', 'kept']]);

  const resumed = await ts.client.call('resumeQueue', { body: {} });
  assert.equal(resumed.changed, true);
  const assigned = (await pollWorker(ts, worker, { want: 10 })).assignments;
  const claimed = assigned.map((a) => a.task.id);
  assert.ok(claimed.includes(tasks[0]!.id), 'the free tag is claimed');
  assert.ok(!claimed.includes(tasks[1]!.id), 'the paused tag is not');
  assert.equal((await ts.client.getTask(tasks[1]!.id)).paused, true);
  await ts.client.call('resumeQueue', { body: { tag: 'kept' } });
  assert.deepEqual((await pollWorker(ts, worker, { want: 10, holding: assigned.map((a) => a.execution_id) })).assignments.map((a) => a.task.id), [tasks[1]!.id]);
  assert.deepEqual(await ts.client.call('resumeQueue', { body: { tag: 'kept' } }), { paused: false, changed: false, tasks: 0, signalled: 0 });
});

/**
 * How many entries the claim of `want` tasks by a new worker of `tags` reads through the claim's
 * indexes, once the backends' statistics are flushed: both indexes are counted, so that a
 * plan through either shows (tasks_claim, by tag, is the one that reads only its tag's
 * entries; sql/0027_claim_any_order.sql). The table is analysed first, as autovacuum would
 * have done after such a submit: the plan must hold with statistics that know the table.
 */
async function claimReads(tags: string[], want: number): Promise<{ read: number; claimed: number[] }> {
  await ts.server.pool.query(sql.unsafe`ANALYZE tasks`);
  const stats = () => ts.server.pool.one(sql.unsafe`
    SELECT sum(i.idx_tup_read)::bigint AS index_read, max(t.n_tup_upd)::bigint AS updated
    FROM pg_stat_user_indexes i JOIN pg_stat_user_tables t USING (relid)
    WHERE i.indexrelname IN ('tasks_claim', 'tasks_claim_any')`) as Promise<{ index_read: number; updated: number }>;
  const flushed = await until('statistics to settle', async () => {
    const a = await stats();
    await new Promise((r) => setTimeout(r, 1500));
    const b = await stats();
    return JSON.stringify(a) === JSON.stringify(b) && b;
  });
  const worker = await registerWorker(ts, { tags, concurrency: want });
  const assignments = (await pollWorker(ts, worker, { want })).assignments;
  const claimed = assignments.map((a) => a.task.id);
  // A backend flushes its statistics when idle, at most once a second and at the latest ten
  // seconds later, each entry (the table's, the index's) when its lock is free: wait for both.
  const after = await until('the claim to show in the statistics', async () => {
    const s = await stats();
    return s.updated >= flushed.updated + claimed.length && s.index_read >= flushed.index_read + claimed.length && s;
  }).catch(async (error: Error) => {
    throw new Error(`${error.message}: before the claim ${JSON.stringify(flushed)}, now ${JSON.stringify(await stats())}`);
  });
  // Its tasks end and it leaves, so that nothing of it is left for the reaper to write while
  // later tests count the events.
  await pollWorker(ts, worker, {
    leaving: true,
    reports: assignments.map((a) => ({
      execution_id: a.execution_id,
      reports: [running, finished()],
    })),
  });
  return { read: after.index_read - flushed.index_read, claimed };
}

test('the claim does not read paused tasks: 100,000 of them ahead in the queue cost it nothing', async () => {
  const step = await ts.client.createStep({ workflow_id: (await ts.client.createWorkflow({ name: 'paused' })).id, name: 'many' });
  await ts.client.call('pauseStep', { params: { id: step.id }, body: {} });
  for (let i = 0; i < 10; i++) {
    await ts.client.submitTasks({ tasks: Array.from({ length: 10_000 }, () => ({ command: 'true', step_id: step.id, tag: 'hot', priority: 100 })) });
  }
  const { tasks: free } = await ts.client.submitTasks({ tasks: Array.from({ length: 5 }, () => ({ command: 'true', tag: 'hot' })) });
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM tasks WHERE tag = 'hot' AND status = 'pending' AND paused`), 100_000);
  // With statistics that say the tag is most of the table, the planner once read every
  // claimable task of every tag (the 10,000 of the first test among them) and filtered by tag.
  const { read, claimed } = await claimReads(['hot'], 5);
  assert.deepEqual(claimed.sort(), free.map((t) => t.id).sort(), 'the unpaused tasks are claimed, behind 100,000 paused ones of higher priority');
  assert.ok(read >= 5 && read <= 50, `the claim read its 5 tasks through the index, and not the paused ones: ${read} index entries`);
});

test('the claim of a few tasks of a tag of 20,000 reads the first entries, not the whole tag', async () => {
  const { tasks: first } = await ts.client.submitTasks({ tasks: Array.from({ length: 5 }, () => ({ command: 'true', tag: 'big', priority: 1 })) });
  for (let i = 0; i < 2; i++) await ts.client.submitTasks({ tasks: Array.from({ length: 10_000 }, () => ({ command: 'true', tag: 'big' })) });
  // Without statistics of the requirements' expressions, the planner took the claim's
  // conditions on them to pass almost nothing, and read and sorted the whole tag.
  const { read, claimed } = await claimReads(['big'], 5);
  assert.deepEqual(claimed.sort(), first.map((t) => t.id).sort(), 'the tasks of the highest priority are claimed');
  assert.ok(read >= 5 && read <= 50, `the claim read the tag's first entries: ${read} index entries`);
  await ts.client.call('cancelTasks', { body: { filter: { tag: 'big', status: ['pending'] } } });
});

test('a bulk operation that matches more than the limit is refused whole', async () => {
  assert.ok(await count(sql.unsafe`SELECT count(*) FROM tasks`) > 100_000, 'the tests above left more tasks than one operation takes');
  const events = await count(sql.unsafe`SELECT count(*) FROM events`);
  await assert.rejects(
    ts.client.call('holdTasks', { body: { filter: { all: true } } }),
    (error: unknown) => error instanceof LabqApiError && error.status === 413,
  );
  assert.equal(await count(sql.unsafe`SELECT count(*) FROM events`), events);
});

test('a kill a pause asked for is not a failure; an edit of requirements keeps the rest; a bad replace is a 400', async () => {
  const worker = await registerWorker(ts, { tags: ['requeue'], concurrency: 1 });
  const { tasks: [task] } = await ts.client.submitTasks({
    command: 'run.sh 🧬', tag: 'requeue', max_retries: 1, backoff: { base_seconds: 0, cap_seconds: 0 }, requirements: { memory_mb: [100, 200], cpus: 1 },
  });
  const finish = (x: number, status: 'killed' | 'failed') => pollWorker(ts, worker, {
    holding: [],
    reports: [{ execution_id: x, reports: [running, finished(status)] }],
  });
  const first = (await pollWorker(ts, worker, { want: 1 })).assignments[0]!;
  await ts.client.call('pauseQueue', { body: { tag: 'requeue', signal: 'kill' } });
  await finish(first.execution_id, 'killed');
  assert.equal((await ts.client.getTask(task!.id)).status, 'pending', 'the kill of a pause puts the task back in the queue');
  await ts.client.call('resumeQueue', { body: { tag: 'requeue' } });
  const second = (await pollWorker(ts, worker, { want: 1 })).assignments[0]!;
  await finish(second.execution_id, 'failed');
  assert.equal((await ts.client.getTask(task!.id)).status, 'pending', 'its one retry is still there: the kill did not count');

  const edited = await ts.client.call('editTask', { params: { id: task!.id }, body: { set: { requirements: { cpus: 2 } } } });
  assert.deepEqual(edited.sample![0]!.after, { requirements: { cpus: 2, memory_mb: 100 } });
  assert.deepEqual((await ts.client.getTask(task!.id)).requirements, { cpus: 2, memory_mb: 100 });

  const split = await http(ts, 'PATCH', `/api/v1/tasks/${task!.id}`, { replace: { find: '^.{8}', with: 'x', regex: true } });
  assert.equal(split.status, 400, split.text);
  assert.equal(split.json.errors[0].field, 'replace');
  assert.equal((await ts.client.getTask(task!.id)).command, 'run.sh 🧬');
});

test('a task ready, its downloads done and waiting for a run slot, has not started: a hold cancels its attempt', async () => {
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'cat "$INPUT/reads.fq"', inputs: ['s3://runs/reads.fq'], tag: 'ready-hold' });
  const worker = await registerWorker(ts, { tags: ['ready-hold'], concurrency: 1, prefetch: 1 });
  const [assignment] = (await pollWorker(ts, worker, { want: 1 })).assignments;
  const x = assignment!.execution_id;
  await pollWorker(ts, worker, { holding: [x], reports: [{ execution_id: x, reports: [{ kind: 'phase', phase: 'downloading' }, { kind: 'phase', phase: 'ready' }] }] });
  const ready = await ts.client.getTask(task!.id);
  assert.deepEqual([ready.status, ready.executions[0]!.status], ['ready', 'ready']);
  const held = await ts.client.call('holdTasks', { body: { filter: { ids: [task!.id] } } });
  assert.equal(held.changed, 1, JSON.stringify(held));
  const after = await ts.client.getTask(task!.id);
  assert.deepEqual([after.status, after.executions[0]!.status], ['held', 'cancelled']);
  // Its worker is told to drop it at its next exchange, which then gets nothing: the task is held.
  const next = await pollWorker(ts, worker, { want: 1, holding: [x] });
  assert.deepEqual([next.abandon, next.assignments], [[x], []]);
});
