// Transfer progress through the worker's exchange: the latest figures of each execution are
// kept (not logged as events) and shown on the execution while it is in that phase; they
// ride on an exchange without making it answer at once; figures for an execution the worker
// does not hold are ignored; they go when the execution ends; bad figures are refused whole.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import type { Report } from '../../shared/schemas/worker.js';
import { finished } from '../../e2e/support/reports.js';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { parkedPoll, pollWorker, registerWorker } from '../../e2e/support/workerApi.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const phase = (p: 'downloading' | 'running' | 'uploading'): Report => ({ kind: 'phase', phase: p });

const progressRows = async (ids: number[]) =>
  Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM execution_progress WHERE execution_id = ANY(${sql.array(ids, 'int8')})`));
const eventCount = async () => Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`));

/** A worker with one claimed execution per task command, under a tag of its own. */
async function claimed(tag: string, n = 1) {
  const w = await registerWorker(ts, { tags: [tag] });
  await ts.client.submitTasks({ tasks: Array.from({ length: n }, (_, i) => ({ command: `echo ${i}`, tag })) });
  const assignments = (await pollWorker(ts, w, { want: n, seq: 1 })).assignments;
  assert.equal(assignments.length, n);
  return { w, xs: assignments.map((a) => a.execution_id), tasks: assignments.map((a) => a.task.id) };
}

test('figures ride on a parked exchange and show on the execution and its task while it downloads', async () => {
  const { w, xs: [x], tasks: [taskId] } = await claimed('pa');
  await pollWorker(ts, w, { seq: 2, holding: [x!], reports: [{ execution_id: x!, reports: [phase('downloading')] }] });
  const events = await eventCount();
  const gone = new AbortController();
  const parked = await parkedPoll(ts, w, {
    seq: 3, holding: [x!], settings_version: w.settings_version, progress: [{ execution_id: x!, phase: 'downloading', bytes_done: 120 * 2 ** 20, bytes_total: 200 * 2 ** 20 }],
  }, gone.signal);
  try {
    const progress = (await ts.client.getExecution(x!)).progress!;
    assert.equal(parked.settled(), false, `figures alone do not answer the exchange: ${JSON.stringify(parked.settled() && await parked.response)}`);
    const { updated_at, ...figures } = progress;
    assert.deepEqual(figures, { phase: 'downloading', bytes_done: 120 * 2 ** 20, bytes_total: 200 * 2 ** 20 });
    assert.ok(!Number.isNaN(Date.parse(updated_at)), updated_at);
    const detail = await ts.client.getTask(taskId!);
    assert.deepEqual(detail.executions.map((e) => e.progress), [progress]);
    assert.equal(await eventCount(), events, 'figures are not events');
  } finally {
    gone.abort();
    await parked.response.catch(() => undefined);
  }
  // Newer figures replace the old ones.
  await pollWorker(ts, w, { seq: 4, holding: [x!], progress: [{ execution_id: x!, phase: 'downloading', bytes_done: 200 * 2 ** 20, bytes_total: 200 * 2 ** 20 }] });
  assert.equal((await ts.client.getExecution(x!)).progress?.bytes_done, 200 * 2 ** 20);
  assert.equal(await progressRows([x!]), 1);
});

test('figures of a phase the execution has left are not shown; the upload has its own; the end of the execution takes them along', async () => {
  const { w, xs: [x] } = await claimed('pb');
  const figures = (p: 'downloading' | 'uploading', done: number) => [{ execution_id: x!, phase: p, bytes_done: done, bytes_total: 1000 }];
  // Sent before the phase report has arrived (the worker's spool lags): kept, and shown once it has.
  await pollWorker(ts, w, { seq: 2, holding: [x!], progress: figures('downloading', 10) });
  assert.equal((await ts.client.getExecution(x!)).progress, null, 'not downloading yet');
  await pollWorker(ts, w, { seq: 3, holding: [x!], reports: [{ execution_id: x!, reports: [phase('downloading')] }] });
  assert.equal((await ts.client.getExecution(x!)).progress?.bytes_done, 10);
  await pollWorker(ts, w, { seq: 4, holding: [x!], reports: [{ execution_id: x!, reports: [phase('running')] }] });
  assert.equal((await ts.client.getExecution(x!)).progress, null, 'the download is over');
  await pollWorker(ts, w, { seq: 5, holding: [x!], reports: [{ execution_id: x!, reports: [phase('uploading')] }], progress: figures('uploading', 500) });
  const { updated_at, ...uploading } = (await ts.client.getExecution(x!)).progress!;
  assert.deepEqual(uploading, { phase: 'uploading', bytes_done: 500, bytes_total: 1000 });
  assert.ok(updated_at);
  // The result and the last figures in one exchange: the figures come after the reports, and the execution is over.
  await pollWorker(ts, w, { seq: 6, holding: [x!], reports: [{ execution_id: x!, reports: [finished()] }], progress: figures('uploading', 1000) });
  const ended = await ts.client.getExecution(x!);
  assert.equal(ended.status, 'succeeded');
  assert.equal(ended.progress, null);
  assert.equal(await progressRows([x!]), 0, 'nothing is left of an execution that ended');
});

test("figures for an execution the worker does not hold are ignored: another worker's, a lost one, an unknown one", async () => {
  const { w, xs: [mine, dropped] } = await claimed('pc', 2);
  const { w: other, xs: [theirs] } = await claimed('pc-other');
  await pollWorker(ts, w, { seq: 2, holding: [mine!, dropped!], reports: [mine!, dropped!].map((x) => ({ execution_id: x, reports: [phase('downloading')] })) });
  await pollWorker(ts, other, { seq: 2, holding: [theirs!], reports: [{ execution_id: theirs!, reports: [phase('downloading')] }] });
  await pollWorker(ts, w, { seq: 3, holding: [mine!, dropped!], progress: [{ execution_id: dropped!, phase: 'downloading', bytes_done: 1, bytes_total: 2 }] });
  const figure = (x: number) => ({ execution_id: x, phase: 'downloading' as const, bytes_done: 5, bytes_total: 9 });
  // `dropped` is not held any more: this very exchange loses it, before it keeps figures.
  const answer = await pollWorker(ts, w, { seq: 4, holding: [mine!], progress: [figure(mine!), figure(dropped!), figure(theirs!), figure(987654321)] });
  assert.deepEqual(answer.reports, []);
  assert.equal((await ts.client.getExecution(dropped!)).status, 'lost');
  assert.equal((await ts.client.getExecution(mine!)).progress?.bytes_done, 5);
  assert.equal((await ts.client.getExecution(dropped!)).progress, null);
  assert.equal(await progressRows([dropped!]), 0, 'the figures it had went with its lease');
  assert.equal((await ts.client.getExecution(theirs!)).progress, null, "another worker's execution is untouched");
  assert.equal(await progressRows([theirs!, 987654321]), 0);
  // Its own worker's figures for it count.
  await pollWorker(ts, other, { seq: 3, holding: [theirs!], progress: [figure(theirs!)] });
  assert.equal((await ts.client.getExecution(theirs!)).progress?.bytes_total, 9);
});

test('bad figures are refused naming the field, and change nothing', async () => {
  const { w, xs: [x] } = await claimed('pd');
  await pollWorker(ts, w, { seq: 2, holding: [x!], reports: [{ execution_id: x!, reports: [phase('downloading')] }], progress: [{ execution_id: x!, phase: 'downloading', bytes_done: 1, bytes_total: 2 }] });
  const cases: [unknown, string][] = [
    [[{ execution_id: x, phase: 'downloading', bytes_done: 3, bytes_total: 2 }], 'progress[0].bytes_total'],
    [[{ execution_id: x, phase: 'running', bytes_done: 1, bytes_total: 2 }], 'progress[0].phase'],
    [[{ execution_id: x, phase: 'downloading', bytes_done: -1, bytes_total: 2 }], 'progress[0].bytes_done'],
    [[{ execution_id: x, phase: 'downloading', bytes_done: 1.5, bytes_total: 2 }], 'progress[0].bytes_done'],
    [[{ execution_id: x, phase: 'downloading', bytes_done: 1, bytes_total: 2, files: 3 }], 'progress[0].files'],
    [[1, 2].map(() => ({ execution_id: x, phase: 'downloading', bytes_done: 1, bytes_total: 2 })), 'progress'],
  ];
  for (const [progress, field] of cases) {
    const response = await http(ts, 'POST', `/api/v1/workers/${w.id}/poll`, {
      instance: w.instance, seq: 3, want: 0, holding: [x], wait_seconds: 0, progress,
      reports: [{ execution_id: x, reports: [phase('running')] }],
    });
    assert.equal(response.status, 400, JSON.stringify(response.json));
    assert.match(response.type, /^application\/problem\+json/);
    assert.ok(response.json.errors.some((e: { field: string }) => e.field === field), `${field}: ${JSON.stringify(response.json.errors)}`);
  }
  const execution = await ts.client.getExecution(x!);
  assert.equal(execution.status, 'downloading', 'the reports of a refused exchange were not recorded');
  assert.equal(execution.progress?.bytes_done, 1);
});
