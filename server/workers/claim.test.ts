// The worker side of the API, driven directly with the typed client: claiming (routing
// tags, priority and age, requirements, one live execution per task, capacity, pause),
// the long poll and what wakes it, leases and reports, retries, dependents, kills, and
// worker liveness. Each test starts a server of its own on a fresh database, so no
// task left pending by one test can be claimed by another.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import { LabqApiError } from '../../shared/client.js';
import { LIVE_STATUSES } from '../../shared/schemas/execution.js';
import type { TaskInput } from '../../shared/schemas/task.js';
import type { PollResponse, Report } from '../../shared/schemas/worker.js';
import { pickTasks, type ClaimingWorker } from '../commands/claimTasks.js';
import type { QueueSettings } from '../settings.js';
import { finished, running } from '../../e2e/support/reports.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { settles, until } from '../../e2e/support/worker.js';
import { parkedPoll, pollWorker as poll, registerWorker as register } from '../../e2e/support/workerApi.js';

/** Only to turn a hang into a failure; never an assertion about how long anything took. */
const HANG_MS = 30_000;

async function server(t: TestContext, settings?: Partial<QueueSettings>, databaseUrl?: string): Promise<TestServer> {
  const ts = await startTestServer({ settings, databaseUrl });
  t.after(() => ts.close());
  return ts;
}

async function submit(ts: TestServer, tasks: TaskInput[]): Promise<number[]> {
  return (await ts.client.submitTasks({ tasks })).tasks.map((t) => t.id);
}

function finish(ts: TestServer, executionId: number, status: 'succeeded' | 'failed' | 'killed' = 'succeeded', exitCode?: number | null) {
  return ts.client.sendReports(executionId, { reports: [finished(status, exitCode === undefined ? {} : { exit_code: exitCode })] });
}

const taskIds = (r: PollResponse) => r.assignments.map((a) => a.task.id);

/** Resolves with the promise, or fails if it has not settled within HANG_MS. */
const noHang = <T>(what: string, promise: Promise<T>) => settles(what, promise, HANG_MS);

async function rejectsWith(status: number, promise: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof LabqApiError, `${what}: ${String(error)}`);
    assert.equal(error.status, status, `${what}: ${error.message}`);
    return true;
  });
}

/** The execution events of one task, in log order. */
async function executionEvents(ts: TestServer, taskId: number) {
  return (await ts.server.pool.any(sql.unsafe`
    SELECT type, stream_id, data, meta FROM events
    WHERE stream_type = 'execution' AND (data->>'task_id')::bigint = ${taskId}
    ORDER BY position`)) as unknown as { type: string; stream_id: number; data: any; meta: any }[];
}

/** The events of one stream, in log order. */
async function streamEvents(ts: TestServer, streamType: string, id: number) {
  return (await ts.server.pool.any(sql.unsafe`
    SELECT type, data, meta FROM events WHERE stream_type = ${streamType} AND stream_id = ${id} ORDER BY position`)) as unknown as {
    type: string; data: any; meta: any;
  }[];
}

// A long poll parks for min(wait_seconds, leaseSeconds / 3): with a long lease a 60 s wait
// is honoured, so an answer before HANG_MS (30 s) can only come from a wake-up.
const LONG_PARK = { leaseSeconds: 600 };

test('claiming takes routing tags in the worker\'s order; `*` takes any tag, and only `*` takes a task tagged `*`', async (t) => {
  const ts = await server(t);
  const [gpu, cpu1, cpu2, other, star, blue] = await submit(ts, [
    { command: 'gpu', tag: 'gpu', priority: 9 },
    { command: 'cpu1', tag: 'cpu' },
    { command: 'cpu2', tag: 'cpu' },
    { command: 'other', tag: 'other' },
    { command: 'star', tag: '*' },
    { command: 'blue', tag: 'blue' },
  ]);

  const a = await register(ts, { tags: ['cpu', 'gpu'] });
  assert.deepEqual(taskIds(await poll(ts, a, { want: 10 })), [cpu1, cpu2, gpu], 'tag order first (cpu before gpu), even over priority');

  const b = await register(ts, { tags: ['other', 'red'] });
  assert.deepEqual(taskIds(await poll(ts, b, { want: 10 })), [other], 'no wildcard: only its own tags, never `*`');
  const plain = await register(ts);
  assert.deepEqual(taskIds(await poll(ts, plain, { want: 10 })), [], 'the default tag matches nothing here');
  assert.equal((await ts.client.getTask(star!)).status, 'pending', 'a task tagged `*` waits for a wildcard worker');

  const c = await register(ts, { tags: ['blue', '*'] });
  assert.deepEqual(taskIds(await poll(ts, c, { want: 10 })), [blue, star], 'its own tag first, then `*` (any tag, including `*`)');

  const [x, y, s] = await submit(ts, [
    { command: 'x', tag: 'x' },
    { command: 'y', tag: 'y', priority: 1 },
    { command: 's', tag: '*' },
  ]);
  const d = await register(ts, { tags: ['x'] });
  const any = await register(ts, { tags: ['*'] });
  assert.deepEqual(taskIds(await poll(ts, any, { want: 10 })), [y, x, s], 'a wildcard worker takes every tag, by priority then age');
  assert.deepEqual(taskIds(await poll(ts, d, { want: 10 })), []);

  const assigned = await ts.server.pool.any(sql.unsafe`
    SELECT (data->>'task_id')::bigint AS task_id, (data->>'worker_id')::bigint AS worker_id FROM events
    WHERE type = 'execution.assigned' ORDER BY position`);
  assert.deepEqual(assigned.map((r) => [r.task_id, r.worker_id]), [
    [cpu1, a.id], [cpu2, a.id], [gpu, a.id], [other, b.id], [blue, c.id], [star, c.id], [y, any.id], [x, any.id], [s, any.id],
  ]);
});

test('within a tag, claiming takes higher priority first, then the oldest', async (t) => {
  const ts = await server(t);
  const old = await submit(ts, [
    { command: 'o0', tag: 'q', priority: 0 },
    { command: 'o5', tag: 'q', priority: 5 },
    { command: 'o-3', tag: 'q', priority: -3 },
  ]);
  const young = await submit(ts, [
    { command: 'y5', tag: 'q', priority: 5 },
    { command: 'y0', tag: 'q', priority: 0 },
    { command: 'y9', tag: 'q', priority: 9 },
  ]);
  const w = await register(ts, { tags: ['q'] });
  const first = await poll(ts, w, { want: 2 });
  assert.deepEqual(taskIds(first), [young[2], old[1]], 'priority 9, then the older of the two priority-5 tasks');
  const rest = await poll(ts, w, { want: 10, holding: first.assignments.map((a) => a.execution_id) });
  assert.deepEqual(taskIds(rest), [young[0], old[0], young[1], old[2]]);
  assert.ok(rest.assignments.every((a) => a.attempt === 1 && a.task.status === 'assigned' && a.task.execution_id === a.execution_id));
});

test('claiming matches requirements: cpus, memory, gpus, capabilities, and containers only on docker workers', async (t) => {
  const ts = await server(t);
  const [plain, cpus2, cpus4, mem, gpus, avx, cuda, container, huge, half] = await submit(ts, [
    { command: 'plain', tag: 'r' },
    { command: 'cpus2', tag: 'r', requirements: { cpus: 2 } },
    { command: 'cpus4', tag: 'r', requirements: { cpus: 4 } },
    { command: 'mem', tag: 'r', requirements: { memory_mb: 2048 } },
    { command: 'gpus', tag: 'r', requirements: { gpus: 1 } },
    { command: 'avx', tag: 'r', requirements: { capabilities: ['avx512'] } },
    { command: 'cuda', tag: 'r', requirements: { capabilities: ['avx512', 'cuda'] } },
    { command: 'container', tag: 'r', container: 'alpine:3' },
    { command: 'huge', tag: 'r', requirements: { cpus: 64 } },
    { command: 'half', tag: 'r', requirements: { cpus: 0.5, memory_mb: 1024 } },
  ]);
  const small = await register(ts, { tags: ['r'], cpus: 2, memory_mb: 1024, gpus: 0, capabilities: [], docker: false });
  assert.deepEqual(taskIds(await poll(ts, small, { want: 50 })), [plain, cpus2, half], 'only what fits 2 cpus, 1 GiB, no gpu, no docker');

  const big = await register(ts, { tags: ['r'], cpus: 16, memory_mb: 65536, gpus: 2, capabilities: ['avx512', 'fuse'], docker: true });
  assert.deepEqual(taskIds(await poll(ts, big, { want: 50 })), [cpus4, mem, gpus, avx, container], 'not cuda (a capability it lacks), not 64 cpus');

  const cudaBox = await register(ts, { tags: ['r'], cpus: 8, memory_mb: 8192, capabilities: ['cuda', 'avx512', 'extra'], docker: false });
  assert.deepEqual(taskIds(await poll(ts, cudaBox, { want: 50 })), [cuda], 'every required capability present, in any order');
  assert.equal((await ts.client.getTask(huge!)).status, 'pending', 'a task nobody can hold stays pending');
});

test('a task has at most one live execution, even when many workers claim at once', async (t) => {
  const ts = await server(t);
  const tasks = await submit(ts, Array.from({ length: 5 }, (_, i) => ({ command: `t${i}`, tag: 'one' })));
  const workers = await Promise.all(Array.from({ length: 10 }, () => register(ts, { tags: ['one'] })));
  const responses = await Promise.all(workers.map((w) => poll(ts, w, { want: 5 })));
  const claimed = responses.flatMap(taskIds);
  assert.deepEqual([...claimed].sort(), [...tasks].sort(), 'every task claimed exactly once');

  // Holding polls renew and claim nothing more: no task is pending.
  const holding = responses.map((r) => r.assignments.map((a) => a.execution_id));
  const again = await Promise.all(workers.map((w, i) => poll(ts, w, { want: 5, holding: holding[i] })));
  assert.deepEqual(again.flatMap(taskIds), []);

  // The worker holding tasks[0] drops it: the task is lost, requeued, and claimed again by someone else.
  const owner = responses.findIndex((r) => taskIds(r).includes(tasks[0]!));
  const first = responses[owner]!.assignments.find((a) => a.task.id === tasks[0])!.execution_id;
  await poll(ts, workers[owner]!, { holding: holding[owner]!.filter((x) => x !== first) });
  const retaken = (await Promise.all(workers.map((w, i) => poll(ts, w, { want: 5, holding: holding[i]!.filter((x) => x !== first) })))).flatMap((r) => r.assignments);
  assert.equal(retaken.length, 1);
  assert.equal(retaken[0]!.task.id, tasks[0]);
  assert.equal(retaken[0]!.attempt, 2);

  const live = await ts.server.pool.any(sql.unsafe`
    SELECT task_id, count(*) AS n FROM executions WHERE status = ANY(${sql.array([...LIVE_STATUSES], 'text')})
    GROUP BY task_id ORDER BY task_id`);
  assert.deepEqual(live.map((r) => [r.task_id, r.n]), [...tasks].sort((p, q) => p - q).map((id) => [id, 1]));
  const detail = await ts.client.getTask(tasks[0]!);
  assert.deepEqual(detail.executions.map((x) => x.status), ['lost', 'assigned']);

  // The database itself refuses a second live execution of a task, in any live status.
  for (const status of LIVE_STATUSES) {
    await assert.rejects(
      ts.server.pool.query(sql.unsafe`
        INSERT INTO executions (id, task_id, attempt, worker_id, status, assigned_at, version)
        VALUES (-1, ${tasks[1]!}, 99, ${workers[0]!.id}, ${status}, now(), 1)`),
      (error: any) => error instanceof UniqueIntegrityConstraintViolationError && error.constraint === 'executions_one_live',
      status,
    );
  }
});

test('capacity is concurrency + prefetch minus the worker\'s live executions, and never more than it wants', async (t) => {
  const ts = await server(t);
  await submit(ts, Array.from({ length: 12 }, (_, i) => ({ command: `c${i}`, tag: 'cap' })));
  const w = await register(ts, { tags: ['cap'], concurrency: 2, prefetch: 1 });
  const first = await poll(ts, w, { want: 10 });
  assert.equal(first.assignments.length, 3, '2 + 1');
  let held = first.assignments.map((a) => a.execution_id);
  assert.equal((await poll(ts, w, { want: 10, holding: held })).assignments.length, 0, 'full');

  await finish(ts, held[0]!);
  held = held.slice(1);
  const one = await poll(ts, w, { want: 10, holding: held });
  assert.equal(one.assignments.length, 1, 'one finished, one free');
  held.push(...one.assignments.map((a) => a.execution_id));

  await ts.client.updateWorker(w.id, { concurrency: 4 });
  const two = await poll(ts, w, { want: 10, holding: held });
  assert.equal(two.assignments.length, 2, '4 + 1 - 3');
  assert.equal(two.settings.concurrency, 4);
  held.push(...two.assignments.map((a) => a.execution_id));

  await ts.client.updateWorker(w.id, { prefetch: 3 });
  assert.equal((await poll(ts, w, { want: 1, holding: held })).assignments.length, 1, 'room for 2, but it wants 1');
  assert.equal((await ts.client.getWorker(w.id)).live_executions, 6);
});

test('a paused worker gets nothing until it is resumed', async (t) => {
  const ts = await server(t);
  const tasks = await submit(ts, [{ command: 'p1', tag: 'p' }, { command: 'p2', tag: 'p' }]);
  const w = await register(ts, { tags: ['p'] });
  const paused = await ts.client.updateWorker(w.id, { paused: true });
  assert.equal(paused.paused, true);
  const none = await poll(ts, w, { want: 5 });
  assert.deepEqual(none.assignments, []);
  assert.equal(none.settings.paused, true);
  assert.deepEqual((await ts.client.listTasks({ tag: 'p' })).items.map((x) => x.status), ['pending', 'pending']);

  await ts.client.updateWorker(w.id, { paused: false });
  const resumed = await poll(ts, w, { want: 5 });
  assert.equal(resumed.settings.paused, false);
  assert.deepEqual(taskIds(resumed), tasks);
  const changes = (await streamEvents(ts, 'worker', w.id)).filter((e) => e.type === 'worker.settings_changed').map((e) => e.data);
  assert.deepEqual(changes, [{ paused: true }, { paused: false }]);
});

test('a parked poll returns when a task for it arrives, and not for changes that are not for it', async (t) => {
  const ts = await server(t, LONG_PARK);
  const w = await register(ts, { tags: ['wake'] });
  const other = await register(ts, { tags: ['elsewhere'] });
  const { settings_version } = await poll(ts, w);
  const parked = await parkedPoll(ts, w, { want: 5, settings_version });
  assert.equal(parked.settled(), false, 'nothing for it yet: it parks');

  // Changes that are not for it do not even wake it: the other worker, parked on the same
  // server, is answered with its task, and this one has run no round meanwhile.
  const otherParked = await parkedPoll(ts, other, { want: 5, settings_version: (await poll(ts, other)).settings_version });
  const rounds = parked.roundsSeen();
  await submit(ts, [{ command: 'not mine', tag: 'elsewhere' }]);
  assert.equal((await noHang('the other worker\'s parked poll', otherParked.response)).assignments.length, 1);
  await ts.client.updateWorker(other.id, { concurrency: 3 });
  assert.equal(parked.roundsSeen(), rounds, 'no round for changes that are not for it');

  const [mine] = await submit(ts, [{ command: 'mine', tag: 'wake' }]);
  const response = await noHang('a parked poll after a task arrived', parked.response);
  assert.deepEqual(taskIds(response), [mine], 'it answered with the task, not with an empty answer on an unrelated change');
  assert.equal(response.settings_version, settings_version);
});

test('a parked poll returns when its settings change, and at once when it knows an older settings version', async (t) => {
  const ts = await server(t, LONG_PARK);
  const w = await register(ts, { tags: ['s'] });
  const { settings_version } = await poll(ts, w);
  assert.equal(settings_version, w.settings_version);

  const parked = await parkedPoll(ts, w, { want: 5, settings_version });
  await ts.client.updateWorker(w.id, { concurrency: 7, tags: ['s', 't'] });
  const response = await noHang('a parked poll after a settings change', parked.response);
  assert.ok(response.settings_version > settings_version);
  assert.deepEqual(response.settings, { concurrency: 7, prefetch: 0, tags: ['s', 't'], paused: false, draining: false });
  assert.deepEqual(response.assignments, []);

  // A poll with a stale version does not park: the worker must learn its settings first.
  const stale = await noHang('a poll with a stale settings version', poll(ts, w, { want: 5, wait_seconds: 60, settings_version }));
  assert.equal(stale.settings_version, response.settings_version);
  assert.deepEqual(stale.settings, response.settings);
});

test('a poll the worker gave up on, served after a newer one, is refused and declares nothing lost', async (t) => {
  const ts = await server(t, LONG_PARK);
  const w = await register(ts, { tags: ['late'] });
  const { settings_version } = await poll(ts, w, { seq: 1 });
  // The worker gives up on poll 2 (a slot freed, say) but the server still has it parked:
  // poll 3 reaches another server process (one reaching the same process ends poll 2 at
  // once: wakeups.test.ts).
  const late = await parkedPoll(ts, w, { seq: 2, want: 0, holding: [], settings_version });
  const [task] = await submit(ts, [{ command: 'new', tag: 'late' }]);
  const other = await server(t, LONG_PARK, ts.databaseUrl);
  const x = (await poll(other, w, { seq: 3, want: 1, settings_version })).assignments[0]!.execution_id;
  // Something for this worker wakes poll 2, whose list of held executions misses x.
  await ts.client.updateWorker(w.id, { concurrency: 9 });
  await assert.rejects(noHang('the late poll', late.response), /409 Stale poll: poll 2 of this worker was overtaken by poll 3/);
  assert.equal((await ts.client.getExecution(x)).status, 'assigned', 'the newer poll\'s assignment is not lost');
  assert.equal((await ts.client.getTask(task!)).status, 'assigned');
  // Registering again starts the count again.
  await register(ts, { name: w.name, instance: w.instance! });
  assert.deepEqual((await poll(ts, w, { seq: 1, holding: [x] })).abandon, []);
});

test('a numbered poll is offered again an assignment whose answer it never got; one it had started and dropped is lost', async (t) => {
  const ts = await server(t, LONG_PARK);
  const w = await register(ts, { tags: ['again'] });
  await submit(ts, [{ command: 'a', tag: 'again' }, { command: 'b', tag: 'again' }]);
  // The answer to poll 1 never reaches the worker.
  const [x1, x2] = (await poll(ts, w, { seq: 1, want: 2 })).assignments.map((a) => a.execution_id);
  await ts.client.sendReports(x2!, { reports: [{ kind: 'phase', phase: 'running' }] });
  const again = await poll(ts, w, { seq: 2, want: 0 });
  assert.deepEqual(again.assignments.map((a) => [a.execution_id, a.attempt, a.task.status]), [[x1, 1, 'assigned']]);
  assert.equal((await ts.client.getExecution(x1!)).status, 'assigned', 'never lost');
  assert.equal((await ts.client.getExecution(x2!)).status, 'lost', 'a started execution the worker dropped is lost');
  const next = await poll(ts, w, { seq: 3, holding: [x1!] });
  assert.deepEqual(next.assignments, [], 'held now: not offered again');
});

test('the rounds of a parked poll write nothing', async (t) => {
  const ts = await server(t, LONG_PARK);
  const w = await register(ts, { tags: ['quiet'] });
  await submit(ts, [{ command: 'held on to', tag: 'quiet' }]);
  const claim = await poll(ts, w, { seq: 1, want: 1 });
  const x = claim.assignments[0]!.execution_id;
  const writes = async () => ts.server.pool.one(sql.unsafe`
    SELECT (SELECT last_seen_at::text FROM worker_liveness WHERE worker_id = ${w.id}) AS seen,
           (SELECT expires_at::text FROM execution_leases WHERE execution_id = ${x}) AS lease`);
  // A task of its tag that it cannot take (more GPUs than it has) wakes it: it looks, and parks again.
  const parked = await parkedPoll(ts, w, { seq: 2, want: 1, holding: [x], settings_version: claim.settings_version });
  const before = await writes();
  const rounds = parked.roundsSeen();
  await submit(ts, [{ command: 'wakes it', tag: 'quiet', requirements: { gpus: 1 } }]);
  await until('the parked poll to look', async () => parked.roundsSeen() > rounds, HANG_MS);
  assert.equal(parked.settled(), false, 'nothing for it: it parks again');
  assert.deepEqual(await writes(), before, 'neither its liveness nor its lease was written');
});

test('a parked poll returns when a kill order for it exists', async (t) => {
  const ts = await server(t, LONG_PARK);
  const w = await register(ts, { tags: ['k'] });
  const [task] = await submit(ts, [{ command: 'sleep 1000', tag: 'k' }]);
  const claim = await poll(ts, w, { want: 1 });
  const x = claim.assignments[0]!.execution_id;

  const parked = await parkedPoll(ts, w, { want: 0, holding: [x], settings_version: claim.settings_version });
  assert.deepEqual(await ts.client.killTask(task!, 4), { result: 'kill_requested' });
  const response = await noHang('a parked poll after a kill', parked.response);
  assert.deepEqual(response.kill, [{ execution_id: x, grace_seconds: 4 }]);
  assert.deepEqual(response.abandon, []);
});

test('a parked poll with nothing to say returns empty when its wait expires', async (t) => {
  const ts = await server(t, LONG_PARK);
  const w = await register(ts, { tags: ['idle'] });
  const { settings_version } = await poll(ts, w);
  const response = await noHang('a poll of 1 s', poll(ts, w, { want: 5, wait_seconds: 1, settings_version }));
  assert.deepEqual(response.assignments, []);
  assert.deepEqual(response.kill, []);
  assert.deepEqual(response.abandon, []);
  assert.equal(response.settings_version, settings_version);
  assert.equal(response.lease_seconds, 600);
});

test('holding an execution renews its lease, past the lease length, writing it at most every third of a lease', async (t) => {
  const ts = await server(t, { leaseSeconds: 3 });
  const w = await register(ts, { tags: ['hold'] });
  await submit(ts, [{ command: 'long', tag: 'hold' }]);
  const x = (await poll(ts, w, { want: 1 })).assignments[0]!.execution_id;
  // What is left is counted from a moment before the poll: a stall after it must not count.
  const lease = async (from: string) => (await ts.server.pool.one(sql.unsafe`
    SELECT expires_at::text AS expiry, extract(epoch FROM expires_at - ${from}::timestamptz)::float8 AS left
    FROM execution_leases WHERE execution_id = ${x}`)) as { expiry: string; left: number };
  const clock = async () => (await ts.server.pool.one(sql.unsafe`SELECT clock_timestamp()::text AS now`)).now as string;
  const assignedAt = Date.now();
  const expiries = new Set<string>();
  let unchanged = 0;
  let previous = (await lease(await clock())).expiry;
  // Keep holding it for longer than two leases: the reaper must never take it.
  while (Date.now() - assignedAt < 7_000) {
    const before = await clock();
    await poll(ts, w, { holding: [x] });
    const now = await lease(before);
    assert.ok(now.left > 3 / 3, `a held lease keeps more than a third of a lease (${now.left} s left)`);
    if (now.expiry === previous) unchanged++;
    expiries.add(now.expiry);
    previous = now.expiry;
    await sleep(500);
  }
  assert.ok(expiries.size >= 4, `the lease moved on (${[...expiries].join(', ')})`);
  assert.ok(unchanged > 0, 'a poll within a third of a lease of the last renewal writes nothing');
  assert.equal((await ts.client.getExecution(x)).status, 'assigned');
  assert.deepEqual((await executionEvents(ts, (await ts.client.getExecution(x)).task_id)).map((e) => e.type), ['execution.assigned']);
});

test('executions a worker does not hold are lost; held ones lost or another worker\'s come back in abandon, not one it finished', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['l'] });
  const stranger = await register(ts, { tags: ['l'] });
  const [t1, t2, t3] = await submit(ts, [{ command: '1', tag: 'l' }, { command: '2', tag: 'l' }, { command: '3', tag: 'l' }]);
  const [x1, x2] = (await poll(ts, w, { want: 2 })).assignments.map((a) => a.execution_id);
  const x3 = (await poll(ts, stranger, { want: 1 })).assignments[0]!.execution_id;

  const r = await poll(ts, w, { holding: [x1!] });
  assert.deepEqual(r.abandon, []);
  assert.equal((await ts.client.getExecution(x1!)).status, 'assigned');
  const lost = await ts.client.getExecution(x2!);
  assert.equal(lost.status, 'lost');
  assert.equal((await ts.client.getTask(t2!)).status, 'pending', 'its task is requeued');
  const events = await executionEvents(ts, t2!);
  assert.deepEqual(events.map((e) => e.type), ['execution.assigned', 'execution.lost']);
  assert.equal(events[1]!.data.reason, 'its worker no longer holds it');
  assert.equal(events[1]!.data.task_status, 'pending');
  assert.equal(Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM execution_leases WHERE execution_id = ${x2!}`)), 0);

  await finish(ts, x1!);
  const back = await poll(ts, w, { holding: [x1!, x2!, x3!] });
  assert.deepEqual([...back.abandon].sort(), [x2!, x3!].sort(), 'lost, and another worker\'s: neither is its to run; what it finished has nothing to stop');
  assert.equal((await ts.client.getExecution(x3!)).status, 'assigned', 'a worker cannot renew, nor lose, another worker\'s execution');
  assert.equal((await ts.client.getTask(t1!)).status, 'succeeded');
  assert.equal((await ts.client.getTask(t3!)).status, 'assigned');
});

test('reports about a lost execution are refused with 409 and change nothing', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['g'] });
  const [task] = await submit(ts, [{ command: 'gone', tag: 'g' }]);
  const x = (await poll(ts, w, { want: 1 })).assignments[0]!.execution_id;
  await poll(ts, w, { holding: [] });
  assert.equal((await ts.client.getExecution(x)).status, 'lost');

  const output: Report = { kind: 'output', stream: 'stdout', seq: 0, data: Buffer.from('late\n').toString('base64') };
  await rejectsWith(409, ts.client.sendReports(x, { reports: [output] }), 'output');
  await rejectsWith(409, ts.client.sendReports(x, { reports: [{ kind: 'phase', phase: 'running' }] }), 'phase');
  await rejectsWith(409, finish(ts, x), 'finish');
  await rejectsWith(409, ts.client.sendReports(x, { reports: [output, running, finished()] }), 'all at once');
  await rejectsWith(404, finish(ts, 987_654_321), 'an unknown execution');

  assert.equal(Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM execution_output WHERE execution_id = ${x}`)), 0);
  assert.deepEqual((await executionEvents(ts, task!)).map((e) => e.type), ['execution.assigned', 'execution.lost']);
  assert.equal((await ts.client.getTask(task!)).status, 'pending');
});

test('reports are idempotent: the same output seq stores once, the same phase and the same finish count once', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['i'] });
  const [task] = await submit(ts, [{ command: 'echo hi', tag: 'i' }]);
  const x = (await poll(ts, w, { want: 1 })).assignments[0]!.execution_id;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const batch: Report[] = [
    { kind: 'phase', phase: 'running' },
    { kind: 'output', stream: 'stdout', seq: 0, data: b64('hello\n') },
    { kind: 'output', stream: 'stderr', seq: 0, data: b64('warn\n') },
  ];
  await ts.client.sendReports(x, { reports: batch });
  await ts.client.sendReports(x, { reports: batch });
  await ts.client.sendReports(x, { reports: [{ kind: 'output', stream: 'stdout', seq: 0, data: b64('hello\n') }, { kind: 'output', stream: 'stdout', seq: 1, data: b64('world\n') }] });
  const done = finished('succeeded', { peak_memory_bytes: 1234 });
  await ts.client.sendReports(x, { reports: [done] });
  await ts.client.sendReports(x, { reports: [done] });
  await ts.client.sendReports(x, { reports: [...batch, done] });

  assert.equal(await ts.client.executionOutput(x, 'stdout'), 'hello\nworld\n');
  assert.equal(await ts.client.executionOutput(x, 'stderr'), 'warn\n');
  const chunks = await ts.server.pool.any(sql.unsafe`SELECT stream, seq FROM execution_output WHERE execution_id = ${x} ORDER BY stream, seq`);
  assert.deepEqual(chunks.map((c) => [c.stream, c.seq]), [['stderr', 0], ['stdout', 0], ['stdout', 1]]);
  const events = await executionEvents(ts, task!);
  assert.deepEqual(events.map((e) => [e.type, e.data.phase ?? e.data.status ?? null]), [
    ['execution.assigned', null], ['execution.phase', 'running'], ['execution.finished', 'succeeded'],
  ]);
  const execution = await ts.client.getExecution(x);
  assert.equal(execution.status, 'succeeded');
  assert.equal(execution.peak_memory_bytes, 1234);
  assert.equal((await ts.client.getTask(task!)).status, 'succeeded');
  await rejectsWith(409, finish(ts, x, 'failed'), 'a different result for a finished execution');
});

test('lost executions requeue their task without counting as retries; the third loss fails it', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['lose'] });
  const [task] = await submit(ts, [{ command: 'crashes its worker', tag: 'lose', max_retries: 0 }]);
  const expected = ['pending', 'pending', 'failed'];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const claim = await poll(ts, w, { want: 1 });
    assert.deepEqual(taskIds(claim), [task], `attempt ${attempt} is claimed`);
    assert.equal(claim.assignments[0]!.attempt, attempt);
    await poll(ts, w, { holding: [] });
    assert.equal((await ts.client.getTask(task!)).status, expected[attempt - 1], `after loss ${attempt}`);
  }
  assert.deepEqual(taskIds(await poll(ts, w, { want: 1 })), [], 'a failed task is not claimed again');
  const detail = await ts.client.getTask(task!);
  assert.equal(detail.attempts, 3);
  assert.deepEqual(detail.executions.map((x) => x.status), ['lost', 'lost', 'lost']);
  const ends = (await executionEvents(ts, task!)).filter((e) => e.type === 'execution.lost').map((e) => e.data.task_status);
  assert.deepEqual(ends, expected);
});

test('a failed execution with max_retries 1 requeues its task once, then the task fails', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['f'] });
  const [task] = await submit(ts, [{ command: 'false', tag: 'f', max_retries: 1, backoff: { base_seconds: 0, cap_seconds: 0 } }]);
  const first = await poll(ts, w, { want: 1 });
  await finish(ts, first.assignments[0]!.execution_id, 'failed', 1);
  assert.equal((await ts.client.getTask(task!)).status, 'pending');
  const second = await poll(ts, w, { want: 1 });
  assert.equal(second.assignments[0]!.attempt, 2);
  await finish(ts, second.assignments[0]!.execution_id, 'failed', 1);
  assert.equal((await ts.client.getTask(task!)).status, 'failed');
  assert.deepEqual(taskIds(await poll(ts, w, { want: 1 })), []);
  const ends = (await executionEvents(ts, task!)).filter((e) => e.type === 'execution.finished').map((e) => [e.data.status, e.data.task_status]);
  assert.deepEqual(ends, [['failed', 'pending'], ['failed', 'failed']]);
  assert.deepEqual((await ts.client.getTask(task!)).executions.map((x) => [x.attempt, x.status, x.exit_code]), [[1, 'failed', 1], [2, 'failed', 1]]);
});

test('dependents: a waiting task becomes pending when its dependency succeeds, blocked (transitively) when it fails', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['dep'] });
  const [a, d] = await submit(ts, [{ command: 'a', tag: 'dep' }, { command: 'd', tag: 'dep' }]);
  const [b, e] = await submit(ts, [{ command: 'b', tag: 'dep', depends_on: [a!] }, { command: 'e', tag: 'dep', depends_on: [d!] }]);
  const [c, f, g] = await submit(ts, [
    { command: 'c', tag: 'dep', depends_on: [b!] },
    { command: 'f', tag: 'dep', depends_on: [e!] },
    { command: 'g', tag: 'dep', depends_on: [a!, d!] },
  ]);
  const status = async (id: number) => (await ts.client.getTask(id)).status;
  assert.deepEqual(await Promise.all([b, c, e, f, g].map((id) => status(id!))), ['waiting', 'waiting', 'waiting', 'waiting', 'waiting']);

  const claim = await poll(ts, w, { want: 10 });
  assert.deepEqual(taskIds(claim), [a, d], 'waiting tasks are not claimed');
  const [xa, xd] = claim.assignments.map((x) => x.execution_id);
  await finish(ts, xa!);
  assert.equal(await status(b!), 'pending', 'b: its only dependency succeeded');
  assert.equal(await status(c!), 'waiting', 'c waits for b');
  assert.equal(await status(g!), 'waiting', 'g still waits for d');

  await finish(ts, xd!, 'failed', 2);
  assert.equal(await status(d!), 'failed');
  assert.deepEqual(await Promise.all([e, f, g].map((id) => status(id!))), ['blocked', 'blocked', 'blocked'], 'e, f through e, and g');
  assert.deepEqual((await streamEvents(ts, 'task', b!)).map((x) => x.type), ['task.submitted', 'task.released']);
  assert.deepEqual((await streamEvents(ts, 'task', e!)).map((x) => [x.type, x.data.dependency ?? null]), [['task.submitted', null], ['task.blocked', d]]);
  assert.deepEqual((await streamEvents(ts, 'task', f!)).map((x) => [x.type, x.data.dependency ?? null]), [['task.submitted', null], ['task.blocked', e]]);
  assert.deepEqual((await streamEvents(ts, 'task', g!)).map((x) => [x.type, x.data.dependency ?? null]), [['task.submitted', null], ['task.blocked', d]]);

  const next = await poll(ts, w, { want: 10 });
  assert.deepEqual(taskIds(next), [b], 'only the released task is claimable');
  await finish(ts, next.assignments[0]!.execution_id);
  assert.equal(await status(c!), 'pending', 'c: released in turn');
});

test('killing a task that has not started cancels it at once', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['kp'] });
  const [task] = await submit(ts, [{ command: 'never', tag: 'kp' }]);
  const [dependent] = await submit(ts, [{ command: 'after', tag: 'kp', depends_on: [task!] }]);
  assert.deepEqual(await ts.client.killTask(task!), { result: 'cancelled' });
  assert.equal((await ts.client.getTask(task!)).status, 'cancelled');
  assert.equal((await ts.client.getTask(dependent!)).status, 'blocked', 'a cancelled dependency blocks its dependents');
  assert.deepEqual((await streamEvents(ts, 'task', task!)).map((e) => e.type), ['task.submitted', 'task.cancelled']);
  assert.deepEqual(taskIds(await poll(ts, w, { want: 5 })), []);
  await rejectsWith(409, ts.client.killTask(task!), 'killing a cancelled task');
  assert.deepEqual(await ts.client.killTask(dependent!), { result: 'cancelled' }, 'a blocked task can be cancelled too');
});

test("a user's kill replacing a pause's order under way says when its KILL comes: no later than the pause's", async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['kr'] });
  const [first, second] = await submit(ts, [{ command: 'sleep 1000', tag: 'kr' }, { command: 'sleep 1000', tag: 'kr' }]);
  const assigned = (await poll(ts, w, { want: 2 })).assignments;
  await ts.client.call('pauseQueue', { body: { tag: 'kr', signal: 'term', grace_seconds: 600 } });
  assert.deepEqual(await ts.client.killTask(first!, 3600), { result: 'kill_requested' });
  await ts.client.call('cancelTasks', { body: { filter: { ids: [second!] }, grace_seconds: 3600 } });
  for (const task of [first!, second!]) {
    const orders = (await executionEvents(ts, task)).filter((e) => e.type === 'execution.kill_requested').map((e) => [e.data.grace_seconds, e.data.requeue ?? false]);
    assert.equal(orders.length, 2, `task ${task}: the pause's order, then the user's, which ends the task`);
    assert.deepEqual(orders[0], [600, true]);
    const [grace, requeue] = orders[1]!;
    assert.equal(requeue, false);
    assert.ok((grace as number) <= 600 && (grace as number) >= 590, `task ${task}: the user's order keeps the pause's KILL, not 3600 s: ${grace}`);
  }
  const order = await poll(ts, w, { holding: assigned.map((a) => a.execution_id) });
  assert.ok(order.kill.every((k) => k.grace_seconds <= 600), JSON.stringify(order.kill));
});

test('killing an assigned task sends a kill order to its worker in its next poll', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['ka'] });
  const bystander = await register(ts, { tags: ['ka'] });
  const [task] = await submit(ts, [{ command: 'sleep 1000', tag: 'ka' }]);
  const x = (await poll(ts, w, { want: 1 })).assignments[0]!.execution_id;
  assert.deepEqual(await ts.client.killTask(task!, 7), { result: 'kill_requested' });
  assert.deepEqual(await ts.client.killTask(task!, 30), { result: 'kill_requested' }, 'asking twice is fine');
  const requested = (await executionEvents(ts, task!)).filter((e) => e.type === 'execution.kill_requested');
  assert.deepEqual(requested.map((e) => e.data.grace_seconds), [7], 'one kill order: the second would not end it sooner');
  assert.equal((await ts.client.getTask(task!)).status, 'assigned', 'the task runs until its worker reports');

  assert.deepEqual((await poll(ts, bystander, { want: 0 })).kill, []);
  const order = await poll(ts, w, { holding: [x] });
  assert.deepEqual(order.kill, [{ execution_id: x, grace_seconds: 7 }]);

  await finish(ts, x, 'killed', null);
  assert.equal((await ts.client.getExecution(x)).status, 'killed');
  assert.equal((await ts.client.getTask(task!)).status, 'cancelled');
  const after = await poll(ts, w, { holding: [] });
  assert.deepEqual([after.kill, after.abandon], [[], []]);
});

test('a killed task whose execution is then lost is cancelled, not run again', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['kl'] });
  const [task] = await submit(ts, [{ command: 'sleep 1000', tag: 'kl', max_retries: 3 }]);
  const [dependent] = await submit(ts, [{ command: 'after', tag: 'kl', depends_on: [task!] }]);
  const x = (await poll(ts, w, { want: 1 })).assignments[0]!.execution_id;
  assert.deepEqual(await ts.client.killTask(task!), { result: 'kill_requested' });
  // The worker restarts before it saw the order: it no longer holds the execution.
  const next = await poll(ts, w, { want: 1, holding: [] });
  assert.equal((await ts.client.getExecution(x)).status, 'lost');
  assert.deepEqual(taskIds(next), [], 'the task is not handed out again');
  assert.equal((await ts.client.getTask(task!)).status, 'cancelled');
  assert.equal((await ts.client.getTask(dependent!)).status, 'blocked');
  const lost = (await executionEvents(ts, task!)).find((e) => e.type === 'execution.lost')!;
  assert.equal(lost.data.task_status, 'cancelled');
});

test('a worker that stops polling goes offline, then lost; it comes back online when it polls again', async (t) => {
  const ts = await server(t, { leaseSeconds: 3, offlineAfterSeconds: 1 });
  const w = await register(ts, { tags: ['st'] });
  await poll(ts, w);
  assert.equal((await ts.client.getWorker(w.id)).status, 'online');
  await until('the worker to be lost', async () => (await ts.client.getWorker(w.id)).status === 'lost', HANG_MS);
  const back = await poll(ts, w);
  assert.equal((await ts.client.getWorker(w.id)).status, 'online');
  const after = await ts.client.getWorker(w.id);
  assert.equal(back.settings_version, after.settings_version);
  assert.equal(after.settings_version, w.settings_version, 'status changes do not change the settings version');
  assert.ok(after.version > w.version);

  const changes = (await streamEvents(ts, 'worker', w.id)).filter((e) => e.type === 'worker.status_changed');
  // A stall of a second after the last poll may add an `offline` of its own: the first three tell.
  assert.deepEqual(changes.slice(0, 3).map((e) => e.data.status), ['offline', 'lost', 'online']);
  assert.deepEqual(changes.slice(0, 3).map((e) => e.meta.actor === 'reaper'), [true, true, false]);
});

test('the reaper marks an execution whose lease expired lost and requeues its task', async (t) => {
  const ts = await server(t, { leaseSeconds: 3, offlineAfterSeconds: 1 });
  const w = await register(ts, { tags: ['reap'] });
  const [task] = await submit(ts, [{ command: 'orphan', tag: 'reap' }]);
  const x = (await poll(ts, w, { want: 1 })).assignments[0]!.execution_id;
  await until('the lease to expire', async () => (await ts.client.getExecution(x)).status === 'lost', HANG_MS);
  assert.equal((await ts.client.getTask(task!)).status, 'pending');
  const lost = (await executionEvents(ts, task!)).filter((e) => e.type === 'execution.lost');
  assert.equal(lost.length, 1);
  assert.equal(lost[0]!.meta.actor, 'reaper');
  assert.match(lost[0]!.data.reason, /lease expired/);
  assert.equal(lost[0]!.data.task_status, 'pending');
  assert.equal(Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM execution_leases WHERE execution_id = ${x}`)), 0);

  // The worker comes back still holding it: it must stop; the task goes to whoever claims it next.
  const back = await poll(ts, w, { holding: [x], want: 1 });
  assert.deepEqual(back.abandon, [x]);
  assert.deepEqual(taskIds(back), [task]);
  assert.equal(back.assignments[0]!.attempt, 2);
  await rejectsWith(409, finish(ts, x), 'a late result of the lost execution');
});

test('the reaper passes by an execution whose report is being recorded, instead of deadlocking with it', async (t) => {
  const ts = await server(t, { leaseSeconds: 2, offlineAfterSeconds: 1 });
  const w = await register(ts, { tags: ['race'] });
  await submit(ts, [{ command: 'reported', tag: 'race' }, { command: 'silent', tag: 'race' }]);
  const [reported, silent] = (await poll(ts, w, { want: 2 })).assignments.map((a) => a.execution_id);

  // What recordReports does for a result: lock the execution, then (finish) delete its lease.
  // Here the report holds its lock across the expiry, as a slow one would.
  const report = new pg.Client({ connectionString: ts.databaseUrl });
  await report.connect();
  t.after(() => report.end());
  await report.query('BEGIN');
  try {
    await report.query('SELECT id FROM executions WHERE id = $1 FOR UPDATE', [reported]);
    await until('the reaper to lose the silent execution', async () => (await ts.client.getExecution(silent!)).status === 'lost', HANG_MS);
    await report.query('DELETE FROM execution_leases WHERE execution_id = $1', [reported]);
  } finally {
    await report.query('ROLLBACK');
  }
  // Released: the reaper gets to it at a later tick.
  await until('the reaper to lose the reported execution', async () => (await ts.client.getExecution(reported!)).status === 'lost', HANG_MS);
});

test('a task made pending after the claiming transaction took its id waits for a later claim: its assignment never comes before its submission in the log', async (t) => {
  const ts = await server(t);
  const w = await register(ts, { tags: ['xid'] });
  let id = 0;
  await ts.server.pool.transaction(async (tx) => {
    // Takes this transaction's id now, as a poll's lock on its worker does.
    await tx.query(sql.unsafe`SELECT pg_current_xact_id()`);
    [id] = await submit(ts, [{ command: 'late', tag: 'xid' }]);
    const worker = (await tx.one(sql.unsafe`SELECT * FROM workers WHERE id = ${w.id}`)) as unknown as ClaimingWorker;
    assert.deepEqual(await pickTasks(tx, [{ worker, count: 1 }], 60), [[]]);
  });
  assert.deepEqual(taskIds(await poll(ts, w, { want: 1 })), [id]);
  assert.deepEqual((await ts.client.taskEvents(id)).items.map((e) => e.type), ['task.submitted', 'execution.assigned']);
});
