// A task's history hands out the same cursors as /events, read the same commit-safe way:
// an event committed after an older transaction that is still open is held back until
// that transaction ends, so a cursor taken from a page never skips the older one's event
// once it commits. Pages follow `next_cursor` like /events.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { finished } from '../../e2e/support/reports.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';
import { appendEvents, checkEvents } from '../events/appendEvents.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const meta = { actor: 'test', request_id: null, source: null };

/** A task.released event at `version` of the task's stream (the projection is left alone: the log is what is read). */
const released = (taskId: number, version: number) => [{ type: 'task.released' as const, streamId: taskId, version, data: { reason: `v${version}` } }];

test("a cursor from a task's history resumes without skipping an event that commits late", async () => {
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'echo history' });
  const id = task!.id;

  let commitOlder!: () => void;
  const older = ts.server.pool.transaction(async (tx) => {
    await appendEvents(tx, checkEvents(released(id, 2), meta), meta); // the smaller xid and the smaller position
    await new Promise<void>((resolve) => (commitOlder = resolve));
  });
  while (!commitOlder) await new Promise((resolve) => setTimeout(resolve, 10));
  await ts.server.pool.transaction(async (tx) => appendEvents(tx, checkEvents(released(id, 3), meta), meta)); // committed first

  const first = await ts.client.taskEvents(id);
  assert.deepEqual(first.items.map((e) => e.type), ['task.submitted'], 'the younger commit is held back while the older transaction is open');
  assert.equal(first.next_cursor, null);

  commitOlder();
  await older;
  const rest = await ts.client.taskEvents(id, { after: first.items[0]!.id });
  assert.deepEqual(rest.items.map((e) => e.data.reason), ['v2', 'v3'], 'resuming from the page misses nothing, in commit-safe order');
  const whole = await ts.client.taskEvents(id);
  assert.deepEqual(whole.items.map((e) => e.id), [first.items[0]!.id, ...rest.items.map((e) => e.id)]);
  const log = await ts.client.listEvents({ stream_type: ['task'], stream_id: id });
  assert.deepEqual(log.items.map((e) => e.id), whole.items.map((e) => e.id), 'the same ids as /events');
});

test("a task's history pages with next_cursor, includes its executions' events, and 404s for no task", async () => {
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'echo paged', tag: 'pager' });
  const id = task!.id;
  for (let version = 2; version <= 6; version++) await ts.server.pool.transaction(async (tx) => appendEvents(tx, checkEvents(released(id, version), meta), meta));
  const worker = await registerWorker(ts, { name: 'pager', cpus: 1, memory_mb: 1024, tags: ['pager'] });
  const { assignments: [assignment] } = await pollWorker(ts, worker, { want: 1 });
  assert.equal(assignment!.task.id, id);
  await ts.client.sendReports(assignment!.execution_id, { reports: [finished()] });

  const all = await ts.client.taskEvents(id);
  assert.deepEqual(all.items.map((e) => e.stream_type), ['task', 'task', 'task', 'task', 'task', 'task', 'execution', 'execution']);
  const paged: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await ts.client.taskEvents(id, { limit: 3, ...(cursor ? { after: cursor } : {}) });
    assert.ok(page.items.length <= 3);
    paged.push(...page.items.map((e) => e.id));
    cursor = page.next_cursor;
  } while (cursor);
  assert.deepEqual(paged, all.items.map((e) => e.id));
  assert.deepEqual(all.items.slice(6).map((e) => [e.type, e.data.task_id]), [['execution.assigned', id], ['execution.finished', id]]);

  await assert.rejects(ts.client.taskEvents(999_999), /task 999999 does not exist/);
});

test('a history read just after a change holds it, once an older open transaction ends', async () => {
  const older = ts.server.pool.transaction(async (tx) => {
    await appendEvents(tx, checkEvents([{ type: 'workflow.created', streamId: 1_000_000, version: 1, data: { name: 'older', description: null } }], meta), meta);
    await tx.query(sql.unsafe`SELECT pg_sleep(0.5)`);
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const { tasks: [task] } = await ts.client.submitTasks({ command: 'echo read-your-writes' });
  const { items } = await ts.client.taskEvents(task!.id);
  assert.deepEqual(items.map((e) => e.type), ['task.submitted']);
  await older;
});
