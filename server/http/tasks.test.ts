// Submitting, listing and reading tasks through the API: bulk submit of 10,000,
// filters and cursor pagination, idempotency keys, dependencies and counts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { lockScope } from '../commands/lockScope.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

test('a bulk submit of 10,000 tasks lands whole, with one event per task', async () => {
  const step = await ts.client.createStep({ workflow_id: (await ts.client.createWorkflow({ name: 'bulk' })).id, name: 'many' });
  const tasks = Array.from({ length: 10_000 }, (_, i) => ({ command: `echo ${i}`, step_id: step.id, key: `s${i}`, priority: i % 7 }));
  const result = await ts.client.submitTasks({ tasks });
  assert.equal(result.tasks.length, 10_000);
  assert.ok(result.tasks.every((t, i) => t.created && t.key === `s${i}` && t.status === 'pending'));
  assert.equal(new Set(result.tasks.map((t) => t.id)).size, 10_000);
  const events = Number(await ts.server.pool.oneFirst(sql.unsafe`
    SELECT count(*) FROM events WHERE type = 'task.submitted' AND (data->>'step_id')::bigint = ${step.id}`));
  assert.equal(events, 10_000);
  assert.deepEqual((await ts.client.getStep(step.id)).counts, { pending: 10_000 });

  const again = await ts.client.submitTasks({ tasks });
  assert.ok(again.tasks.every((t, i) => !t.created && t.id === result.tasks[i]!.id), 'resubmitting the same keys returns the same tasks');
  assert.deepEqual((await ts.client.getStep(step.id)).counts, { pending: 10_000 });
});

test('list filters by status, step, workflow, tag and command text, with cursor pagination', async () => {
  const wf = await ts.client.createWorkflow({ name: 'filters' });
  const a = await ts.client.createStep({ workflow_id: wf.id, name: 'a' });
  const b = await ts.client.createStep({ workflow_id: wf.id, name: 'b' });
  await ts.client.submitTasks({
    tasks: [
      ...Array.from({ length: 25 }, (_, i) => ({ command: `bwa mem ref.fa S${i}.fq`, step_id: a.id, tag: 'highmem' })),
      ...Array.from({ length: 5 }, (_, i) => ({ command: `samtools sort S${i}.bam`, step_id: b.id, held: true })),
    ],
  });
  const byStep = await ts.client.listTasks({ step_id: a.id, limit: 1000 });
  assert.equal(byStep.items.length, 25);
  assert.equal(byStep.next_cursor, null);
  assert.equal((await ts.client.listTasks({ workflow_id: wf.id, limit: 1000 })).items.length, 30);
  assert.equal((await ts.client.listTasks({ workflow_id: wf.id, status: ['held'], limit: 1000 })).items.length, 5);
  assert.equal((await ts.client.listTasks({ workflow_id: wf.id, status: 'held,pending', limit: 1000 })).items.length, 30);
  assert.equal((await ts.client.listTasks({ workflow_id: wf.id, tag: 'highmem', limit: 1000 })).items.length, 25);
  const search = await ts.client.listTasks({ workflow_id: wf.id, q: 'SAMTOOLS', limit: 1000 });
  assert.deepEqual(search.items.map((t) => t.command).sort(), Array.from({ length: 5 }, (_, i) => `samtools sort S${i}.bam`).sort());
  assert.equal((await ts.client.listTasks({ q: '100%_', limit: 10 })).items.length, 0, 'LIKE wildcards are literal');

  const seen: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await ts.client.listTasks({ step_id: a.id, limit: 7, cursor });
    assert.ok(page.items.length <= 7);
    seen.push(...page.items.map((t) => t.id));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  assert.deepEqual(seen, byStep.items.map((t) => t.id), 'pages cover the list once, in order');
  assert.deepEqual((await ts.client.getWorkflow(wf.id)).counts, { pending: 25, held: 5 });
  assert.deepEqual((await ts.client.getStep(b.id)).counts, { held: 5 });
});

test('one task reads back whole, with its executions and its events', async () => {
  const input = {
    name: 'align-S12', command: 'bwa mem /resource/ref.fa /input/S12.fq > /output/S12.sam', shell: 'bash',
    container: 'biocontainers/bwa:0.7.17', container_options: ['--memory=8g'], inputs: ['s3://runs/2026-11/S12.fq'],
    resources: ['s3://refs/hg38.tar.gz|untar'], output: 's3://results/2026-11/S12/', tag: 'highmem', priority: 5,
    max_retries: 2, timeouts: { download: 600, run: 7200, upload: 600 }, env: { THREADS: '8' }, key: 'S12',
    requirements: { cpus: 8, memory_mb: 8192 },
  };
  const { tasks: [created] } = await ts.client.submitTasks(input);
  const task = await ts.client.getTask(created!.id);
  for (const [field, value] of Object.entries(input)) assert.deepEqual((task as any)[field], value, field);
  assert.equal(task.status, 'pending');
  assert.deepEqual(task.executions, []);
  assert.equal(task.submitted_by !== null, true);
  const { items } = await ts.client.taskEvents(created!.id);
  assert.equal(items.length, 1);
  assert.equal(items[0]!.type, 'task.submitted');
  assert.equal(items[0]!.data.command, input.command);
});

test('idempotency keys are scoped to a workflow and survive concurrent submits', async () => {
  const w1 = await ts.client.createWorkflow({ name: 'k1' });
  const w2 = await ts.client.createWorkflow({ name: 'k2' });
  const first = await ts.client.submitTasks({ command: 'echo 1', key: 'same', workflow_id: w1.id });
  const repeat = await ts.client.submitTasks({ command: 'echo changed', key: 'same', workflow_id: w1.id });
  assert.equal(repeat.tasks[0]!.id, first.tasks[0]!.id);
  assert.equal(repeat.tasks[0]!.created, false);
  assert.equal((await ts.client.getTask(first.tasks[0]!.id)).command, 'echo 1', 'the existing task is not changed');
  const other = await ts.client.submitTasks({ command: 'echo 1', key: 'same', workflow_id: w2.id });
  assert.notEqual(other.tasks[0]!.id, first.tasks[0]!.id);
  const inRequest = await ts.client.submitTasks({ tasks: [{ command: 'a', key: 'dup', workflow_id: w2.id }, { command: 'b', key: 'dup', workflow_id: w2.id }] });
  assert.equal(inRequest.tasks[0]!.id, inRequest.tasks[1]!.id);
  assert.deepEqual(inRequest.tasks.map((t) => t.created), [true, false]);

  const racers = await Promise.all(Array.from({ length: 8 }, () => ts.client.submitTasks({ command: 'race', key: 'race', workflow_id: w1.id })));
  assert.equal(new Set(racers.map((r) => r.tasks[0]!.id)).size, 1, 'concurrent submits of one key make one task');
  assert.equal(racers.filter((r) => r.tasks[0]!.created).length, 1);
  const rows = Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM tasks WHERE key = 'race'`));
  assert.equal(rows, 1);
});

test('status at submit follows dependencies and hold', async () => {
  const { tasks: [dep] } = await ts.client.submitTasks({ command: 'true' });
  const { tasks } = await ts.client.submitTasks({
    tasks: [{ command: 'after', depends_on: [dep!.id] }, { command: 'held', held: true }, { command: 'free' }],
  });
  assert.deepEqual(tasks.map((t) => t.status), ['waiting', 'held', 'pending']);
  assert.deepEqual((await ts.client.getTask(tasks[0]!.id)).depends_on, [dep!.id]);
});

test('a submit waits for a pause being written, before it locks its dependencies: it takes the pauses lock first', async () => {
  const dependency = (await ts.client.submitTasks({ tasks: [{ command: 'true', tag: 'lock-wait' }] })).tasks[0]!.id;
  for (const dependsOn of [[], [dependency]]) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // A pause: the pauses lock, then the tasks it covers (NOWAIT: a submit holding one of
    // them while it waits for the pauses lock would be a deadlock).
    const pause = ts.server.pool.transaction(async (tx) => {
      await lockScope(tx, { kind: 'queue', tag: null });
      locked();
      await released;
      await tx.query(sql.unsafe`SELECT id FROM tasks WHERE id = ${dependency} FOR UPDATE NOWAIT`);
    });
    await isLocked;
    let settled = false;
    const submit = ts.client.submitTasks({ tasks: [{ command: 'true', tag: 'lock-wait', depends_on: dependsOn }] }).finally(() => (settled = true));
    // Either the submit waits for the pauses lock, or it ends (and the assertion below fails).
    await until('the submit to wait for the pauses lock, or to end', async () => settled || Number(await ts.server.pool.oneFirst(sql.unsafe`
      SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`)) > 0);
    assert.equal(settled, false, `a submit with ${dependsOn.length} dependencies went past a pause being written`);
    release();
    await pause;
    assert.equal((await submit).tasks[0]!.created, true);
  }
});
