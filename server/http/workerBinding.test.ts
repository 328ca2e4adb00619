// A worker token is bound to the worker it first registers and acts only as that worker:
// it cannot submit, register under another name, poll as another worker, report on or
// read the output of another worker's executions; its own worker works as before. The
// binding is recorded in worker.registered and comes back from a rebuild; a revoked
// token's worker may be taken over by a new token; admin tokens act as any worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { finished } from '../../e2e/support/reports.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';
import { LabqApiError, LabqClient } from '../../shared/client.js';
import type { Worker } from '../../shared/schemas/worker.js';
import { rebuildProjections } from '../admin/rebuild.js';
import { createToken, revokeToken } from '../auth/tokens.js';

let ts: TestServer;
const meta = { actor: 'test', request_id: null, source: null };
let serial = 0;

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await ts?.close();
});

/** A new worker token, and a client that speaks with it. */
async function workerToken(): Promise<{ name: string; token: string; client: LabqClient }> {
  const name = `binding-${++serial}`;
  const token = await createToken(ts.server.pool, name, 'worker', meta);
  return { name, token, client: new LabqClient({ server: ts.url, token }) };
}

const eventCount = async () => Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events`));

/** Asserts the call is refused with 403 problem+json whose detail matches, and writes no event. */
async function refused(call: () => Promise<unknown>, detail: RegExp): Promise<void> {
  const before = await eventCount();
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof LabqApiError, String(error));
    assert.equal(error.status, 403, error.message);
    assert.equal(error.problem.title, 'Forbidden');
    assert.match(error.problem.detail ?? '', detail);
    return true;
  });
  assert.equal(await eventCount(), before, 'a refused request wrote events');
}

/** A worker registered with `client`'s token, holding one execution of a task of its own tag. */
async function workerWithExecution(client: LabqClient): Promise<{ worker: Worker; executionId: number }> {
  const tag = `bind-${++serial}`;
  const worker = await registerWorker({ client }, { tags: [tag] });
  await ts.client.submitTasks({ command: 'echo bound', tag });
  const { assignments } = await pollWorker({ client }, worker, { want: 1 });
  assert.equal(assignments.length, 1);
  return { worker, executionId: assignments[0]!.execution_id };
}

const output = (seq: number) => ({ reports: [{ kind: 'output' as const, stream: 'stdout' as const, seq, data: Buffer.from('out\n').toString('base64') }] });

test('its own worker works: register, claim, report in the exchange and on their own, read its output size, finish', async () => {
  const a = await workerToken();
  const { worker, executionId } = await workerWithExecution(a.client);
  await a.client.sendReports(executionId, output(1));
  assert.deepEqual(await a.client.executionOutputSize(executionId), { stdout: 4, stderr: 0, truncated: false, next_seq: { stdout: 2, stderr: 0 } });
  const answer = await pollWorker(a, worker, {
    holding: [executionId],
    reports: [{ execution_id: executionId, reports: [finished()] }],
  });
  assert.deepEqual(answer.reports.map((r) => r.recorded), [true]);
  // Registering again under its name (a restart) is fine.
  assert.equal((await registerWorker(a, { name: worker.name, instance: worker.instance!, tags: worker.tags })).id, worker.id);
  const { rows } = await ts.server.pool.query(sql.unsafe`
    SELECT data->>'token_id' AS token_id, meta->>'actor' AS actor FROM events
    WHERE stream_type = 'worker' AND stream_id = ${worker.id} AND type = 'worker.registered' ORDER BY position`);
  const tokenId = Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT id FROM api_tokens WHERE name = ${a.name}`));
  assert.deepEqual(rows, [{ token_id: String(tokenId), actor: a.name }, { token_id: String(tokenId), actor: a.name }], 'the binding is in the registration events');
});

test('a worker token cannot submit, steer or read', async () => {
  const a = await workerToken();
  await registerWorker(a);
  await refused(() => a.client.submitTasks({ command: 'echo nope' }), /POST \/api\/v1\/tasks is for admin and operator; your role is worker/);
  await refused(() => a.client.listTasks(), /your role is worker/);
  // The refusal names the path called, not the route's pattern.
  const { id } = (await ts.client.submitTasks({ command: 'echo theirs' })).tasks[0]!;
  await refused(() => a.client.getTask(id), new RegExp(`^GET /api/v1/tasks/${id} is for admin, operator and viewer; your role is worker$`));
  await refused(() => a.client.listWorkers(), /your role is worker/);
});

test('a worker token cannot register as a second worker, nor as a worker bound to another token', async () => {
  const a = await workerToken();
  const b = await workerToken();
  const wa = await registerWorker(a);
  const wb = await registerWorker(b);
  await refused(() => registerWorker(a), new RegExp(`bound to worker "${wa.name}" \\(${wa.id}\\)`));
  await refused(() => registerWorker(a, { name: wb.name }), new RegExp(`bound to worker "${wa.name}"`));
  // A token bound to nothing yet may not take a worker another live token holds.
  const c = await workerToken();
  await refused(() => registerWorker(c, { name: wa.name }), new RegExp(`worker "${wa.name}" is bound to another token`));
  // And having been refused, it is still free to register a worker of its own.
  await registerWorker(c);
});

test('a worker token cannot poll as another worker, nor before it is bound to one', async () => {
  const a = await workerToken();
  const b = await workerToken();
  const wa = await registerWorker(a);
  const wb = await registerWorker(b);
  await refused(() => pollWorker(a, wb), new RegExp(`bound to worker ${wa.id} and may not act as worker ${wb.id}`));
  const unbound = await workerToken();
  await refused(() => pollWorker(unbound, wa), /bound to no worker yet: register/);
  // Admin tokens are bound to nothing: they may act as any worker.
  await pollWorker(ts, wb);
});

test("a worker token cannot report on, nor read the output size of, another worker's execution", async () => {
  const a = await workerToken();
  const b = await workerToken();
  const mine = await workerWithExecution(a.client);
  const theirs = await workerWithExecution(b.client);
  await refused(() => a.client.sendReports(theirs.executionId, output(1)), new RegExp(`execution ${theirs.executionId} is not assigned to the worker this token is bound to`));
  await refused(() => a.client.executionOutputSize(theirs.executionId), /not assigned to the worker this token is bound to/);
  // In its own exchange, reports on another's execution are refused by their receipt and change nothing of it.
  const answer = await pollWorker(a, mine.worker, { holding: [mine.executionId], reports: [{ execution_id: theirs.executionId, reports: output(1).reports }] });
  assert.deepEqual(answer.reports.map((r) => [r.execution_id, r.recorded]), [[theirs.executionId, false]]);
  assert.deepEqual(await ts.client.executionOutputSize(theirs.executionId), { stdout: 0, stderr: 0, truncated: false, next_seq: { stdout: 0, stderr: 0 } });
  // A worker token bound to nothing reports on nothing.
  const unbound = await workerToken();
  await refused(() => unbound.client.sendReports(mine.executionId, output(1)), /bound to no worker yet/);
});

test('two first registrations of one token under two names at once: one binds, the other is refused', async () => {
  const a = await workerToken();
  const results = await Promise.allSettled([registerWorker(a), registerWorker(a)]);
  const bound = results.filter((r) => r.status === 'fulfilled');
  assert.equal(bound.length, 1, JSON.stringify(results.map((r) => r.status === 'rejected' ? String(r.reason) : 'ok')));
  const failure = results.find((r) => r.status === 'rejected')!.reason as LabqApiError;
  assert.equal(failure.status, 403, failure.message);
});

test('once its token is revoked, a worker may be taken over by a new token', async () => {
  const a = await workerToken();
  const wa = await registerWorker(a);
  const b = await workerToken();
  await refused(() => registerWorker(b, { name: wa.name, instance: wa.instance! }), /is bound to another token/);
  await revokeToken(ts.server.pool, a.name, meta);
  const again = await registerWorker(b, { name: wa.name, instance: wa.instance! });
  assert.equal(again.id, wa.id);
  await pollWorker(b, wa);
});

test('the bindings come back from a rebuild, and admin registrations keep them', async () => {
  const a = await workerToken();
  const wa = await registerWorker(a);
  await registerWorker(ts, { name: wa.name, instance: wa.instance! });
  const bindings = sql.unsafe`SELECT id, token_id FROM workers ORDER BY id`;
  const before = await ts.server.pool.any(bindings);
  assert.ok(before.some((w) => w.id === wa.id && w.token_id !== null), 'an admin registration keeps the binding');
  await rebuildProjections(ts.server.pool);
  assert.deepEqual(await ts.server.pool.any(bindings), before);
  const other = await registerWorker(ts);
  await refused(() => pollWorker(a, other), new RegExp(`bound to worker ${wa.id} and may not act as worker ${other.id}`));
  await pollWorker(a, wa);
});
