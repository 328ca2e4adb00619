// The task list as the UI reads it: filters by the latest attempt's worker and failure
// class (with executions made through the worker API), every sort order against the
// database's own values, offset paging over 2,500 tasks against cursor paging, the count by
// status, a bulk cancel by failure class, and the refusals of bad values.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { API_PREFIX } from '../../shared/api.js';
import type { FailureClass } from '../../shared/schemas/execution.js';
import { TASK_SORTS, TASK_STATUSES, type TaskListItem, type TaskListQuery } from '../../shared/schemas/task.js';
import type { Report } from '../../shared/schemas/worker.js';
import { finished, running } from '../../e2e/support/reports.js';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const finish = (failureClass?: FailureClass): Report => (failureClass ? finished('failed', { failure_class: failureClass }) : finished());

/** Claims `want` pending tasks of the worker's tags, starts them, and ends each as `outcome` says (undefined: it goes on running). */
async function run(worker: Awaited<ReturnType<typeof registerWorker>>, want: number, outcome: (taskId: number) => Report | undefined): Promise<number[]> {
  const { assignments } = await pollWorker(ts, worker, { want });
  assert.equal(assignments.length, want, 'every task claimed');
  for (const a of assignments) {
    const end = outcome(a.task.id);
    await ts.client.sendReports(a.execution_id, { reports: [running, ...(end ? [end] : [])] });
  }
  return assignments.map((a) => a.task.id).sort((x, y) => x - y);
}

/** Every task the query lists, page by page through next_cursor. */
async function readAll(query: TaskListQuery, limit: number): Promise<TaskListItem[]> {
  const items: TaskListItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await ts.client.listTasks({ ...query, limit, cursor });
    assert.ok(page.items.length <= limit);
    items.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return items;
}

const ids = (items: { id: number }[]) => items.map((t) => t.id);
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

async function problem(path: string, method = 'GET', body?: unknown) {
  const answer = await http(ts, method, `${API_PREFIX}${path}`, body);
  assert.equal(answer.status, 400, `${method} ${path}: ${answer.text}`);
  assert.match(answer.type, /application\/problem\+json/);
  return answer.json.errors.map((e: { field: string }) => e.field) as string[];
}

test('worker_id and failure_class filter on the latest attempt, in the list, the count and a bulk cancel', async () => {
  const a = await registerWorker(ts, { tags: ['lt-a'] });
  const b = await registerWorker(ts, { tags: ['lt-b'] });
  const submit = async (tag: string, n: number, extra = {}) =>
    (await ts.client.submitTasks({ tasks: Array.from({ length: n }, (_, i) => ({ command: `work ${tag} ${i}`, tag, ...extra })) })).tasks.map((t) => t.id);
  const onA = await submit('lt-a', 6);
  const onB = await submit('lt-b', 6);
  // A: two exit failures, two oom, two successes. B: three timeouts, three still running.
  const classOf = new Map<number, FailureClass | undefined>(onA.map((id, i) => [id, (['exit', 'exit', 'oom', 'oom', undefined, undefined] as const)[i]]));
  await run(a, 6, (id) => finish(classOf.get(id)));
  await run(b, 6, (id) => (onB.indexOf(id) < 3 ? finish('timeout') : undefined));

  assert.deepEqual(ids(await readAll({ worker_id: a.id }, 4)), onA);
  assert.deepEqual(ids(await readAll({ worker_id: b.id, status: 'running' }, 100)), onB.slice(3));
  assert.deepEqual(ids(await readAll({ failure_class: 'oom,exit' }, 100)), onA.slice(0, 4));
  assert.deepEqual(ids(await readAll({ failure_class: 'timeout', worker_id: b.id }, 100)), onB.slice(0, 3));
  assert.deepEqual(ids(await readAll({ failure_class: 'timeout', worker_id: a.id }, 100)), [], 'every criterion must hold');
  assert.deepEqual(await ts.client.countTasks({ worker_id: a.id }), { count: 6, by_status: { succeeded: 2, failed: 4 } });
  assert.deepEqual(await ts.client.countTasks({ worker_id: b.id }), { count: 6, by_status: { running: 3, failed: 3 } });
  assert.deepEqual(await ts.client.countTasks({ failure_class: 'exit,oom,timeout' }), { count: 7, by_status: { failed: 7 } });

  // Relaunched and run on another worker, a task leaves A's list and the class of its earlier attempt.
  const c = await registerWorker(ts, { tags: ['lt-a'] });
  const moved = onA[0]!;
  assert.equal((await ts.client.call('relaunchTasks', { body: { filter: { ids: [moved] } } })).changed, 1);
  assert.deepEqual(ids((await ts.client.listTasks({ ids: String(moved), failure_class: 'exit' })).items), [moved], 'pending again, its latest attempt is still the failed one');
  await run(c, 1, () => undefined);
  assert.deepEqual(ids(await readAll({ worker_id: a.id }, 100)), onA.slice(1));
  assert.deepEqual(ids(await readAll({ worker_id: c.id }, 100)), [moved]);
  assert.deepEqual(ids(await readAll({ failure_class: 'exit' }, 100)), [onA[1]!]);
  const latest = (await ts.client.listTasks({ worker_id: c.id })).items[0]!.latest!;
  assert.equal(latest.worker_id, c.id);
  assert.equal(latest.status, 'running');

  // Tasks backing off after an oom, and tasks that failed for good: a cancel by class takes the ones not ended.
  const retried = await submit('lt-r', 4, { max_retries: 2, backoff: { base_seconds: 3600, cap_seconds: 3600 } });
  const r = await registerWorker(ts, { tags: ['lt-r'] });
  await run(r, 4, (id) => finish(retried.indexOf(id) < 3 ? 'oom' : 'exit'));
  assert.deepEqual(await ts.client.countTasks({ failure_class: 'oom', tag: 'lt-r' }), { count: 3, by_status: { pending: 3 } });
  const matched = await ts.client.countTasks({ failure_class: 'oom' });
  assert.deepEqual(matched, { count: 5, by_status: { pending: 3, failed: 2 } }, 'what a confirmation would show');
  const cancel = await ts.client.call('cancelTasks', { body: { filter: { failure_class: ['oom'] } } });
  assert.equal(cancel.matched, matched.count, 'the bulk action sees what the count saw');
  assert.deepEqual(sorted(cancel.task_ids), retried.slice(0, 3));
  assert.deepEqual(sorted(cancel.skipped.flatMap((s) => s.task_ids)), onA.slice(2, 4));
  assert.deepEqual(await ts.client.countTasks({ failure_class: 'oom' }), { count: 5, by_status: { failed: 2, cancelled: 3 } });
  assert.equal((await ts.client.getTask(retried[3]!)).status, 'pending', 'an exit failure is not an oom');

  // The filter of the other bulk operations goes through the same matching.
  const held = await ts.client.call('holdTasks', { body: { filter: { worker_id: b.id, status: ['running'] } } });
  assert.equal(held.matched, 3);
  assert.equal(held.changed, 0, 'running tasks cannot be held');
});

/** The database's exact values (times to the microsecond), which the expected orders are computed from. */
async function exactRows(tag: string) {
  return (await ts.server.pool.any(sql.unsafe`
    SELECT id, priority, status, (extract(epoch FROM submitted_at) * 1000000)::int8 AS submitted_us,
           (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_us
    FROM tasks WHERE tag = ${tag}`)) as unknown as { id: number; priority: number; status: string; submitted_us: number; updated_us: number }[];
}

test('each sort order, ties by id in the same direction, read whole through cursors', async () => {
  const tag = 'sorts';
  const first = await ts.client.submitTasks({ tasks: Array.from({ length: 12 }, (_, i) => ({ command: `a ${i}`, tag, priority: i % 4 - 1 })) });
  const second = await ts.client.submitTasks({
    tasks: Array.from({ length: 12 }, (_, i) => ({ command: `b ${i}`, tag, priority: i % 3, held: i % 2 === 0 })),
  });
  const [x, y] = [first.tasks[0]!.id, first.tasks[1]!.id];
  await ts.client.submitTasks({ command: 'c waits', tag, depends_on: [second.tasks[0]!.id] });
  await ts.client.call('cancelTasks', { body: { filter: { ids: [x] } } });
  await ts.client.call('editTasks', { body: { filter: { ids: [y] }, set: { priority: 7 } } });
  await ts.client.call('holdTasks', { body: { filter: { ids: first.tasks.slice(5, 8).map((t) => t.id) } } });

  const rows = await exactRows(tag);
  assert.equal(rows.length, 25);
  assert.ok(new Set(rows.map((r) => r.status)).size >= 4, 'several statuses to order');
  const keyOf: Record<string, (r: (typeof rows)[number]) => number> = {
    id: (r) => r.id, priority: (r) => r.priority, submitted_at: (r) => r.submitted_us, updated_at: (r) => r.updated_us,
    status: (r) => TASK_STATUSES.indexOf(r.status as never),
  };
  for (const sort of TASK_SORTS) {
    const key = keyOf[sort.replace(/^-/, '')]!;
    const sign = sort.startsWith('-') ? -1 : 1;
    const expected = [...rows].sort((p, q) => sign * (key(p) - key(q) || p.id - q.id)).map((r) => r.id);
    assert.deepEqual(ids(await readAll({ tag, sort }, 4)), expected, `sort=${sort}, in pages of 4`);
    assert.deepEqual(ids((await ts.client.listTasks({ tag, sort, limit: 100 })).items), expected, `sort=${sort}, in one page`);
  }

  // A cursor resumes the order it was made for, and that one only.
  const page = await ts.client.listTasks({ tag, sort: '-priority', limit: 3 });
  assert.deepEqual(await problem(`/tasks?tag=${tag}&cursor=${page.next_cursor}`), ['cursor']);
  assert.deepEqual(await problem(`/tasks?tag=${tag}&sort=priority&cursor=${page.next_cursor}`), ['cursor']);
  const byId = await ts.client.listTasks({ tag, limit: 3 });
  assert.deepEqual(await problem(`/tasks?tag=${tag}&sort=-id&cursor=${byId.next_cursor}`), ['cursor']);
});

test('offset pages over 2,500 tasks agree with cursor pages, and a cursor goes on from an offset', async () => {
  const tag = 'deep';
  await ts.client.submitTasks({ tasks: Array.from({ length: 2_500 }, (_, i) => ({ command: `deep ${i}`, tag, priority: (i * 7) % 11 })) });
  const held = (await ts.client.call('holdTasks', { body: { filter: { tag, q: 'deep 1' } } })).changed;
  assert.equal(held, 1_111, 'deep 1, deep 10-19, 100-199, 1000-1999');
  for (const sort of ['priority', '-updated_at', 'status'] as const) {
    const whole = ids(await readAll({ tag, sort }, 1000));
    assert.equal(whole.length, 2_500);
    assert.equal(new Set(whole).size, 2_500, 'no task twice');
    const byOffset: number[] = [];
    for (let offset = 0; offset < 2_500; offset += 250) {
      const page = await ts.client.listTasks({ tag, sort, offset, limit: 250 });
      byOffset.push(...ids(page.items));
      assert.equal(page.next_cursor === null, offset + 250 === 2_500, 'next_cursor until the last page');
    }
    assert.deepEqual(byOffset, whole, `sort=${sort}: offset pages are the cursor pages`);

    const middle = await ts.client.listTasks({ tag, sort, offset: 1_234, limit: 50 });
    assert.deepEqual(ids(middle.items), whole.slice(1_234, 1_284));
    const next = await ts.client.listTasks({ tag, sort, cursor: middle.next_cursor!, limit: 50 });
    assert.deepEqual(ids(next.items), whole.slice(1_284, 1_334), 'the cursor of an offset page goes on after it');
  }
  const beyond = await ts.client.listTasks({ tag, offset: 2_500 });
  assert.deepEqual(beyond, { items: [], next_cursor: null });
  assert.deepEqual(await ts.client.countTasks({ tag }), { count: 2_500, by_status: { held: 1_111, pending: 1_389 } });
  assert.deepEqual(await ts.client.countTasks({ tag, q: 'deep 1', status: 'held,pending' }), { count: 1_111, by_status: { held: 1_111 } });
  assert.deepEqual(await ts.client.countTasks({ tag: 'nothing-here' }), { count: 0, by_status: {} });
});

test('bad values are refused with 400 naming the field, and change nothing', async () => {
  assert.deepEqual(await problem('/tasks?sort=name'), ['sort']);
  assert.deepEqual(await problem('/tasks?offset=-1'), ['offset']);
  assert.deepEqual(await problem('/tasks?offset=10000001'), ['offset']);
  assert.deepEqual(await problem('/tasks?offset=1.5'), ['offset']);
  const { next_cursor } = await ts.client.listTasks({ limit: 1 });
  assert.deepEqual(await problem(`/tasks?offset=0&cursor=${next_cursor}`), ['offset']);
  assert.deepEqual(await problem('/tasks?cursor=bm90LWEtY3Vyc29y'), ['cursor']);
  assert.deepEqual(await problem(`/tasks?sort=updated_at&cursor=${Buffer.from(JSON.stringify({ sort: 'updated_at', key: "now'); --", after: 1 })).toString('base64url')}`), ['cursor']);
  for (const route of ['/tasks', '/tasks/count']) {
    assert.deepEqual(await problem(`${route}?worker_id=abc`), ['worker_id']);
    assert.deepEqual(await problem(`${route}?worker_id=0`), ['worker_id']);
    assert.ok((await problem(`${route}?failure_class=oom,segfault`)).every((f) => f.startsWith('failure_class')));
    assert.ok((await problem(`${route}?status=running,asleep`)).every((f) => f.startsWith('status')));
  }
  assert.equal((await ts.client.listTasks({ offset: 10_000_000 })).items.length, 0, 'the deepest offset is allowed');

  const before = await ts.client.countTasks();
  for (const filter of [{ failure_class: [] }, { failure_class: ['segfault'] }, { worker_id: 'x' }, { worker_id: 0 }]) {
    const fields = await problem('/tasks/cancel', 'POST', { filter });
    assert.ok(fields.some((f) => f.startsWith(`filter.${Object.keys(filter)[0]}`)), JSON.stringify(fields));
  }
  assert.deepEqual(await ts.client.countTasks(), before, 'nothing changed');
});
