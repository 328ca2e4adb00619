// The worker's exchange: one request carries reports for any of its executions and takes
// new work in the same transaction; each execution's reports are recorded or refused on
// their own, once however often they are re-sent.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import type { Report } from '../../shared/schemas/worker.js';
import { finished, running } from '../../e2e/support/reports.js';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const succeeded = finished();
const out = (seq: number, text: string): Report => ({ kind: 'output', stream: 'stdout', seq, data: Buffer.from(text).toString('base64') });

async function eventsOf(executionIds: number[]) {
  return ts.server.pool.any(sql.unsafe`
    SELECT stream_id, type, meta->>'request_id' AS request_id FROM events
    WHERE stream_type = 'execution' AND stream_id = ANY(${sql.array(executionIds, 'int8')}) ORDER BY position`);
}

test('one exchange records the reports of several executions and claims new work in the same transaction', async () => {
  const w = await registerWorker(ts, { tags: ['xa'], concurrency: 3 });
  await ts.client.submitTasks({ tasks: Array.from({ length: 5 }, (_, i) => ({ command: `echo ${i}`, tag: 'xa' })) });
  const first = await pollWorker(ts, w, { want: 3, seq: 1 });
  const ids = first.assignments.map((a) => a.execution_id);
  assert.equal(ids.length, 3);
  // All three ran and ended; the worker says so, and takes the last two tasks, in one request.
  const answer = await pollWorker(ts, w, {
    seq: 2, want: 3, holding: ids, wait_seconds: 60,
    reports: ids.map((id, i) => ({ execution_id: id, reports: [running, out(0, `line ${i}\n`), succeeded] })),
  });
  assert.deepEqual(answer.reports, ids.map((id) => ({ execution_id: id, recorded: true, detail: null })));
  assert.equal(answer.assignments.length, 2, 'the freed capacity is claimed in the same exchange');
  assert.deepEqual(answer.abandon, [], 'what it just finished is not something to abandon');
  for (const [i, a] of first.assignments.entries()) {
    const task = await ts.client.getTask(a.task.id);
    assert.equal(task.status, 'succeeded');
    assert.equal((await http(ts, 'GET', `/api/v1/executions/${a.execution_id}/output`)).text, `line ${i}\n`);
  }
  // Phases, results and the new assignments were written by the one request.
  const events = await eventsOf([...ids, ...answer.assignments.map((a) => a.execution_id)]);
  const requests = new Set(events.filter((e) => e.type !== 'execution.assigned' || !ids.includes(e.stream_id)).map((e) => e.request_id));
  assert.equal(requests.size, 1, `one request wrote them all: ${JSON.stringify(events)}`);
  const leases = await ts.server.pool.oneFirst(sql.unsafe`
    SELECT count(*) FROM execution_leases WHERE execution_id = ANY(${sql.array(ids, 'int8')})`);
  assert.equal(leases, 0, 'the leases of finished executions are gone');
});

test('each execution is recorded or refused on its own, and a re-sent exchange counts nothing twice', async () => {
  const w = await registerWorker(ts, { tags: ['xb'], concurrency: 3 });
  const other = await registerWorker(ts, { tags: ['xb-other'] });
  await ts.client.submitTasks({ tasks: [{ command: 'a', tag: 'xb' }, { command: 'b', tag: 'xb' }, { command: 'c', tag: 'xb-other' }] });
  const [x1, x2] = (await pollWorker(ts, w, { want: 2, seq: 1 })).assignments.map((a) => a.execution_id);
  const foreign = (await pollWorker(ts, other, { want: 1 })).assignments[0]!.execution_id;
  // x2 started, then is lost (its worker no longer holds it) by a poll that reports nothing.
  await ts.client.sendReports(x2!, { reports: [running] });
  await pollWorker(ts, w, { seq: 2, holding: [x1!] });
  assert.equal((await ts.client.getExecution(x2!)).status, 'lost');
  const reports = [
    { execution_id: x1!, reports: [running, out(0, 'kept\n'), succeeded] },
    { execution_id: x2!, reports: [out(0, 'too late\n')] },
    { execution_id: foreign, reports: [succeeded] },
    { execution_id: 987654321, reports: [succeeded] },
  ];
  const answer = await pollWorker(ts, w, { seq: 3, holding: [x1!, x2!, foreign], reports });
  assert.deepEqual(answer.reports.map((r) => [r.execution_id, r.recorded]), [[x1, true], [x2, false], [foreign, false], [987654321, false]]);
  assert.match(answer.reports[1]!.detail!, /is lost/);
  assert.match(answer.reports[2]!.detail!, new RegExp(`belongs to worker ${other.id}`));
  assert.match(answer.reports[3]!.detail!, /does not exist/);
  assert.equal((await ts.client.getExecution(foreign)).status, 'assigned', "another worker's execution is untouched");
  assert.equal((await http(ts, 'GET', `/api/v1/executions/${x2}/output`)).text, '', 'nothing of a refused execution is stored');
  // The answer was lost; the worker sends the same exchange again.
  const again = await pollWorker(ts, w, { seq: 4, holding: [x1!], reports: [reports[0]!] });
  assert.deepEqual(again.reports, [{ execution_id: x1, recorded: true, detail: null }]);
  assert.equal((await http(ts, 'GET', `/api/v1/executions/${x1}/output`)).text, 'kept\n');
  const events = await eventsOf([x1!]);
  assert.deepEqual(events.map((e) => e.type), ['execution.assigned', 'execution.phase', 'execution.finished']);
});

test('an exchange that carries reports is answered at once; a bad one is refused naming the field and changes nothing', async () => {
  const w = await registerWorker(ts, { tags: ['xc'] });
  await ts.client.submitTasks({ command: 'x', tag: 'xc' });
  const claimed = await pollWorker(ts, w, { want: 1, seq: 1 });
  const [x] = claimed.assignments.map((a) => a.execution_id);
  const started = Date.now();
  // With the settings it knows, nothing but its reports ends the poll at once.
  const answer = await pollWorker(ts, w, {
    seq: 2, holding: [x!], wait_seconds: 30, settings_version: claimed.settings_version, reports: [{ execution_id: x!, reports: [running] }],
  });
  assert.deepEqual(answer.reports.map((r) => r.recorded), [true]);
  // Parked, it would have been answered after a third of the 30 s lease: 10 s.
  assert.ok(Date.now() - started < 5_000, `it did not park (answered after ${Date.now() - started} ms)`);
  const response = await http(ts, 'POST', `/api/v1/workers/${w.id}/poll`, {
    instance: w.instance, want: 0, holding: [x], reports: [{ execution_id: x, reports: [succeeded] }, { execution_id: x, reports: [succeeded] }],
  });
  assert.equal(response.status, 400);
  const problem = response.json;
  assert.ok(problem.errors.some((e: { field: string }) => e.field === 'reports'), JSON.stringify(problem));
  assert.equal((await ts.client.getExecution(x!)).status, 'running');
});
