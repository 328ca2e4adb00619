// Interleavings a review found wrong, kept as tests: dependencies ending at the same
// moment, a poll whose worker hung up (or gave up on it), a kill racing a failure, kill orders while parked,
// and reports whose numbers do not fit the database.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { finished } from '../../e2e/support/reports.js';
import { http, startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { pollsServed, parkedPoll, pollWorker, registerWorker } from '../../e2e/support/workerApi.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const register = (tag: string, concurrency = 50) => registerWorker(ts, { tags: [tag], concurrency });
const finish = (x: number, status: 'succeeded' | 'failed' = 'succeeded') => ts.client.sendReports(x, { reports: [finished(status)] });

test('two dependencies ending at the same moment release their dependent', async () => {
  const w = await register('deps');
  for (let i = 0; i < 20; i++) {
    const { tasks: [a, b] } = await ts.client.submitTasks({ tasks: [{ command: 'true', tag: 'deps' }, { command: 'true', tag: 'deps' }] });
    const { tasks: [c] } = await ts.client.submitTasks({ command: 'true', depends_on: [a!.id, b!.id], tag: 'deps' });
    const { assignments } = await ts.client.pollWorker(w.id, { instance: w.instance!, want: 2, wait_seconds: 0 });
    assert.equal(assignments.length, 2);
    await Promise.all(assignments.map((x) => finish(x.execution_id)));
    assert.equal((await ts.client.getTask(c!.id)).status, 'pending', `round ${i}: the dependent is released`);
    const next = await ts.client.pollWorker(w.id, { instance: w.instance!, want: 5, wait_seconds: 0 });
    for (const x of next.assignments) await finish(x.execution_id);
  }
});

test('a poll whose worker hung up claims nothing for it', async () => {
  // A lease of 600 s lets the poll park for 60 s: it can only end before the 30 s of the
  // wait below because the server saw the hang-up.
  const patient = await startTestServer({ settings: { leaseSeconds: 600 } });
  try {
    const w = await registerWorker(patient, { tags: ['hangup'], concurrency: 5 });
    const hangUp = new AbortController();
    const parked = await parkedPoll(patient, w, { want: 1, settings_version: w.settings_version }, hangUp.signal);
    const serving = pollsServed(patient);
    hangUp.abort();
    await assert.rejects(parked.response);
    await until('the server to end the poll its worker hung up on', async () => pollsServed(patient) < serving, 30_000);
    const { tasks: [t] } = await patient.client.submitTasks({ command: 'true', tag: 'hangup' });
    // The worker polls again: the task is still there for it, never handed to the dead poll.
    const again = await pollWorker(patient, w, { want: 1 });
    assert.deepEqual(again.assignments.map((a) => [a.task.id, a.attempt]), [[t!.id, 1]]);
    assert.deepEqual((await patient.client.getTask(t!.id)).executions.map((x) => x.status), ['assigned']);
  } finally {
    await patient.close();
  }
});

test('a round of an exchange its worker no longer waits for (hung up, or given up on for a newer one) claims nothing', async () => {
  const w = await register('unwanted', 5);
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'true', tag: 'unwanted' });
  const round = (unwanted: boolean) => ts.server.rounds.serve({
    workerId: w.id, first: true, unwanted: () => unwanted, meta: { actor: 'test', request_id: null, source: null },
    request: { instance: w.instance!, holding: [], want: 1, settings_version: 0, wait_seconds: 0, kill_orders: [], killing: [], suspended: [], progress: [], reports: [] },
  });
  assert.deepEqual((await round(true)).assignments, []);
  assert.equal((await ts.client.getTask(t!.id)).status, 'pending');
  assert.deepEqual((await round(false)).assignments.map((a) => a.task.id), [t!.id]);
});

test('a task asked to be killed is cancelled even when it fails on its own first', async () => {
  const w = await register('killfail');
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'sleep 100', max_retries: 3, tag: 'killfail' });
  const x = (await ts.client.pollWorker(w.id, { instance: w.instance!, want: 1, wait_seconds: 0 })).assignments[0]!.execution_id;
  assert.deepEqual(await ts.client.killTask(t!.id, 5), { result: 'kill_requested' });
  await finish(x, 'failed');
  assert.equal((await ts.client.getTask(t!.id)).status, 'cancelled');
});

test('a kill order the worker already carries out does not end its parked poll, told as the daemon tells it or as an older one', async () => {
  const w = await register('killpark', 1);
  const { tasks: [t] } = await ts.client.submitTasks({ command: 'sleep 100', tag: 'killpark' });
  const first = await ts.client.pollWorker(w.id, { instance: w.instance!, want: 1, wait_seconds: 0, settings_version: w.settings_version });
  const x = first.assignments[0]!.execution_id;
  await ts.client.killTask(t!.id, 60);
  const order = await ts.client.pollWorker(w.id, { instance: w.instance!, want: 0, holding: [x], wait_seconds: 0, settings_version: first.settings_version });
  assert.deepEqual(order.kill, [{ execution_id: x, grace_seconds: 60 }]);
  // Parked with the kill known: only news (here a setting) ends it, and the answer still carries the order.
  let version = first.settings_version;
  for (const [i, known] of [{ kill_orders: [{ execution_id: x, grace_seconds: 60 }] }, { killing: [x] }].entries()) {
    const parked = await parkedPoll(ts, w, { want: 0, holding: [x], ...known, wait_seconds: 30, settings_version: version });
    await ts.client.updateWorker(w.id, { prefetch: i + 1 });
    const answer = await parked.response;
    assert.deepEqual(answer.kill, [{ execution_id: x, grace_seconds: 60 }]);
    assert.equal(answer.settings.prefetch, i + 1, 'it parked until something new (a setting) came');
    version = answer.settings_version;
  }
});

test('a kill order asked for again with a shorter grace ends the parked poll of a worker already killing, on another server process too', async (t) => {
  // A long lease: the parked poll's own deadline (a third of it) is far beyond the wait below.
  const long = await startTestServer({ settings: { leaseSeconds: 600 } });
  const other = await startTestServer({ databaseUrl: long.databaseUrl, settings: { leaseSeconds: 600 } });
  t.after(async () => {
    await other.close();
    await long.close();
  });
  const w = await registerWorker(long, { tags: ['killsooner'], concurrency: 2 });
  await long.client.submitTasks({ tasks: [{ command: 'sleep 100', tag: 'killsooner' }, { command: 'sleep 100', tag: 'killsooner' }] });
  const first = await long.client.pollWorker(w.id, { instance: w.instance!, want: 2, wait_seconds: 0, settings_version: w.settings_version });
  const held = first.assignments.map((a) => a.execution_id);
  const taskOf = new Map(first.assignments.map((a) => [a.execution_id, a.task.id]));
  for (const x of held) await long.client.killTask(taskOf.get(x)!, 600);
  const order = await long.client.pollWorker(w.id, { instance: w.instance!, want: 0, holding: held, wait_seconds: 0, settings_version: first.settings_version });
  assert.deepEqual(order.kill, held.map((x) => ({ execution_id: x, grace_seconds: 600 })));
  // Each exchange parks on one server process, then on the other: what the worker was told travels with it.
  for (const [i, [server, x]] of ([[long, held[0]!], [other, held[1]!]] as const).entries()) {
    const told = order.kill.map((k) => (k.execution_id === held[0] && i > 0 ? { ...k, grace_seconds: 0 } : k));
    const parked = await parkedPoll(server, w, { want: 0, holding: held, kill_orders: told, wait_seconds: 60, settings_version: first.settings_version });
    await long.client.killTask(taskOf.get(x)!, 0);
    // Answered for the new order alone, long before its wait of a minute is over.
    await until('the parked poll to answer', async () => parked.settled(), 15_000);
    assert.deepEqual((await parked.response).kill.find((k) => k.execution_id === x), { execution_id: x, grace_seconds: 0 });
  }
});

test('reports with numbers beyond the database’s integers are refused with 400', async () => {
  const w = await register('ints', 2);
  await ts.client.submitTasks({ tasks: [{ command: 'true', tag: 'ints' }, { command: 'true', tag: 'ints' }] });
  const [x1, x2] = (await ts.client.pollWorker(w.id, { instance: w.instance!, want: 2, wait_seconds: 0 })).assignments.map((a) => a.execution_id);
  const seq = await http(ts, 'POST', `/api/v1/executions/${x1}/reports`, { reports: [{ kind: 'output', stream: 'stdout', seq: 2 ** 31, data: 'aGk=' }] });
  assert.equal(seq.status, 400);
  assert.equal(seq.json.errors[0].field, 'reports[0].seq');
  const exit = await http(ts, 'POST', `/api/v1/executions/${x2}/reports`, { reports: [finished('failed', { exit_code: 2 ** 31 })] });
  assert.equal(exit.status, 400);
  assert.equal(exit.json.errors[0].field, 'reports[0].exit_code');
});

test('output dropped past the cap is counted once, however often it is re-sent', async () => {
  const small = await startTestServer({ settings: { outputCapBytes: 10 } });
  try {
    const w = await registerWorker(small, { tags: ['cap'] });
    await small.client.submitTasks({ command: 'true', tag: 'cap' });
    const x = (await small.client.pollWorker(w.id, { instance: w.instance!, want: 1, wait_seconds: 0 })).assignments[0]!.execution_id;
    const chunk = (seq: number) => ({ kind: 'output' as const, stream: 'stdout' as const, seq, data: Buffer.from('12345678').toString('base64') });
    for (let i = 0; i < 3; i++) await small.client.sendReports(x, { reports: [chunk(0), chunk(1), chunk(2)] });
    const { sql } = await import('slonik');
    const row = await small.server.pool.one(sql.unsafe`SELECT bytes, dropped FROM execution_output_size WHERE execution_id = ${x}`);
    assert.deepEqual({ bytes: row.bytes, dropped: row.dropped }, { bytes: 8, dropped: 16 });
    // Every number seen counts, the dropped chunks' too: a worker taking the output up goes on after them.
    assert.deepEqual(await small.client.executionOutputSize(x), { stdout: 8, stderr: 0, truncated: true, next_seq: { stdout: 3, stderr: 0 } });
    const truncated = /^12345678\n\[labq: output truncated: more than 10 bytes; the rest was dropped\]\n$/;
    assert.match(await small.client.executionOutput(x), truncated);
    // Past the first chunk dropped, every one is, though it would fit: the output stored keeps no hole.
    const small2 = (stream: 'stdout' | 'stderr', seq: number, text: string) => ({ kind: 'output' as const, stream, seq, data: Buffer.from(text).toString('base64') });
    await small.client.sendReports(x, { reports: [small2('stdout', 3, 'ab'), small2('stderr', 0, 'e')] });
    assert.match(await small.client.executionOutput(x), truncated, 'in a later request');
    assert.deepEqual(await small.client.executionOutputSize(x), { stdout: 8, stderr: 0, truncated: true, next_seq: { stdout: 4, stderr: 1 } });
    await small.client.submitTasks({ command: 'true', tag: 'cap' });
    const y = (await small.client.pollWorker(w.id, { instance: w.instance!, want: 1, wait_seconds: 0, holding: [x] })).assignments[0]!.execution_id;
    await small.client.sendReports(y, { reports: [small2('stdout', 0, '12345678'), small2('stdout', 1, 'abc'), small2('stdout', 2, 'd')] });
    assert.match(await small.client.executionOutput(y), truncated, 'in the same request');
  } finally {
    await small.close();
  }
});
