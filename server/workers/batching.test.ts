// The rounds of many workers' exchanges written in one transaction (exchangeRounds.ts):
// each worker still gets its own answer, receipts, assignments and refusal, its events carry
// its own request, and a lock held elsewhere holds back only the rounds of the worker it is on.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import type { PollResponse, Report, Worker } from '../../shared/schemas/worker.js';
import { finished, running } from '../../e2e/support/reports.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { until } from '../../e2e/support/worker.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';
import { LabqApiError } from '../../shared/client.js';
import { IN_FLIGHT } from './exchangeRounds.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const reports = (text: string): Report[] => [
  running,
  { kind: 'output', stream: 'stdout', seq: 0, data: Buffer.from(text).toString('base64') },
  finished(),
];

/** Backends of this database waiting for a lock. */
const lockWaits = async () => Number(await ts.server.pool.oneFirst(sql.unsafe`
  SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`));

/**
 * Fills every transaction slot with the rounds of IN_FLIGHT decoy workers, each waiting for
 * its worker's row, which another transaction holds (as a change of their settings would,
 * for longer): the rounds sent next queue, and are written together once the decoys' batches
 * give up waiting. `release` lets the decoys go and checks they are answered then.
 */
async function holdDecoys() {
  const decoys: Worker[] = [];
  for (let i = 0; i < IN_FLIGHT; i++) decoys.push(await registerWorker(ts, { tags: ['batch-decoy'] }));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding!: () => void;
  const isHolding = new Promise<void>((resolve) => (holding = resolve));
  const holder = ts.server.pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SELECT 1 FROM workers WHERE id = ANY(${sql.array(decoys.map((d) => d.id), 'int8')}) ORDER BY id FOR UPDATE`);
    holding();
    await released;
  });
  await isHolding;
  let answered = false;
  // One at a time: rounds that arrive in one turn of the event loop share a transaction, and
  // each decoy must hold a transaction of its own.
  const polls: Array<Promise<PollResponse>> = [];
  for (const [i, d] of decoys.entries()) {
    polls.push(pollWorker(ts, d, { seq: 1, want: 1 }));
    await until(`decoy ${i + 1} to wait for its row`, async () => (await lockWaits()) >= i + 1);
  }
  const answers = Promise.all(polls);
  void answers.then(() => (answered = true), () => (answered = true));
  return {
    answered: () => answered,
    release: async () => {
      release();
      await holder;
      assert.deepEqual((await answers).map((r) => r.assignments.length), decoys.map(() => 0), 'the decoys are answered once their rows are free');
    },
  };
}

test('rounds that arrive together are written in one transaction, each answered as its own, and a lock elsewhere holds back only its worker', { timeout: 120_000 }, async () => {
  const workers: Worker[] = [];
  // Two shapes that take the same tasks: one statement picks for each, and the second skips what the first took.
  for (let i = 0; i < 12; i++) workers.push(await registerWorker(ts, { tags: i % 2 ? ['batch', 'batch-other'] : ['batch'], concurrency: 2 }));
  await ts.client.submitTasks({ tasks: Array.from({ length: 48 }, (_, i) => ({ command: `echo ${i}`, tag: 'batch' })) });
  const held = new Map<number, number[]>();
  for (const w of workers) held.set(w.id, (await pollWorker(ts, w, { seq: 1, want: 2 })).assignments.map((a) => a.execution_id));

  const decoys = await holdDecoys();
  // Each worker reports its two executions and takes two more; one round comes from a daemon the name no longer belongs to.
  // And one claims to hold, and reports the end of, an execution of the next one, which reports it too.
  const [intruder, ...rest] = workers;
  const foreign = held.get(rest[1]!.id)![0]!;
  const answers = await Promise.allSettled([
    pollWorker(ts, { id: intruder!.id, instance: '00000000-0000-4000-8000-000000000000' }, { seq: 2, want: 2, holding: held.get(intruder!.id)! }),
    ...rest.map((w, i) => {
      const executions = i === 0 ? [...held.get(w.id)!, foreign] : held.get(w.id)!;
      return pollWorker(ts, w, { seq: 2, want: 2, holding: executions, reports: executions.map((id) => ({ execution_id: id, reports: reports(`from ${w.id}\n`) })) });
    }),
  ]);
  assert.equal(decoys.answered(), false, 'the rounds of other workers did not wait for the decoys\' rows');
  const refused = answers[0]!;
  assert.ok(refused.status === 'rejected' && refused.reason instanceof LabqApiError && refused.reason.status === 409, 'the intruder is refused on its own');
  const given = new Set<number>();
  for (const [i, w] of rest.entries()) {
    const settled = answers[i + 1]!;
    assert.equal(settled.status, 'fulfilled', `worker ${w.id}: ${settled.status === 'rejected' ? settled.reason : ''}`);
    const answer = (settled as PromiseFulfilledResult<PollResponse>).value;
    assert.deepEqual(answer.reports.slice(0, 2), held.get(w.id)!.map((id) => ({ execution_id: id, recorded: true, detail: null })), `worker ${w.id}'s own receipts`);
    assert.equal(answer.assignments.length, 2, `worker ${w.id} took its two`);
    for (const a of answer.assignments) {
      assert.ok(!given.has(a.task.id), `task ${a.task.id} was given once`);
      given.add(a.task.id);
    }
    if (i === 0) {
      // The other worker's end of it was recorded in the same transaction: it is still not this one's.
      assert.equal(answer.reports[2]?.recorded, false);
      assert.match(answer.reports[2]!.detail!, new RegExp(`belongs to worker ${rest[1]!.id}`));
      assert.deepEqual(answer.abandon, [foreign], 'an execution it holds that is another worker\'s is abandoned');
    } else {
      assert.deepEqual(answer.abandon, []);
    }
  }
  // Each new execution's lease, written by the statement that picked it for several workers at once, names the worker it went to.
  const owner = new Map(rest.flatMap((w, i) => (answers[i + 1] as PromiseFulfilledResult<PollResponse>).value.assignments.map((a) => [a.execution_id, w.id] as const)));
  const leases = await ts.server.pool.any(sql.unsafe`
    SELECT execution_id, worker_id FROM execution_leases WHERE execution_id = ANY(${sql.array([...owner.keys()], 'int8')})`);
  assert.deepEqual(new Map(leases.map((l) => [Number(l.execution_id), Number(l.worker_id)])), owner);
  // One transaction wrote them (fewer transactions than rounds at least), and each event carries its own worker's request.
  const events = await ts.server.pool.any(sql.unsafe`
    SELECT e.xid::text AS xid, x.worker_id, e.meta->>'request_id' AS request_id FROM events e JOIN executions x ON x.id = e.stream_id
    WHERE e.stream_type = 'execution' AND x.worker_id = ANY(${sql.array(rest.map((w) => w.id), 'int8')})
      AND (e.type = 'execution.finished' OR (e.type = 'execution.assigned' AND e.stream_id <> ALL(${sql.array([...held.values()].flat(), 'int8')})))`);
  assert.equal(events.length, rest.length * 4, 'two ends and two assignments per worker');
  assert.ok(new Set(events.map((e) => e.xid)).size < rest.length, `rounds shared transactions: ${new Set(events.map((e) => e.xid)).size} for ${rest.length}`);
  for (const w of rest) {
    const own = new Set(events.filter((e) => e.worker_id === w.id).map((e) => e.request_id));
    assert.equal(own.size, 1, `worker ${w.id}'s events carry one request`);
  }
  assert.equal(new Set(events.map((e) => e.request_id)).size, rest.length, 'each worker its own request');
  const finished = Number(await ts.server.pool.oneFirst(sql.unsafe`
    SELECT count(*) FROM tasks WHERE tag = 'batch' AND status = 'succeeded'`));
  assert.equal(finished, rest.length * 2);

  await decoys.release();
});

test('two workers whose rounds share a transaction each end a dependency of one waiting task: it is released once', { timeout: 120_000 }, async () => {
  const [a, b] = [await registerWorker(ts, { tags: ['dep-a'] }), await registerWorker(ts, { tags: ['dep-b'] })];
  const { tasks: [first, second] } = await ts.client.submitTasks({ tasks: [{ command: 'one', tag: 'dep-a' }, { command: 'two', tag: 'dep-b' }] });
  const { tasks: [after] } = await ts.client.submitTasks({ tasks: [{ command: 'after both', tag: 'dep-after', depends_on: [first!.id, second!.id] }] });
  const xa = (await pollWorker(ts, a, { seq: 1, want: 1 })).assignments[0]!.execution_id;
  const xb = (await pollWorker(ts, b, { seq: 1, want: 1 })).assignments[0]!.execution_id;
  const decoys = await holdDecoys();
  await Promise.all([[a, xa], [b, xb]].map(([w, x]) => pollWorker(ts, w as Worker, { seq: 2, holding: [x as number], reports: [{ execution_id: x as number, reports: reports('done\n') }] })));
  const events = await ts.server.pool.any(sql.unsafe`
    SELECT e.type, e.xid::text AS xid FROM events e
    WHERE (e.stream_type = 'task' AND e.stream_id = ${after!.id}) OR (e.stream_type = 'execution' AND e.stream_id = ANY(${sql.array([xa, xb], 'int8')}) AND e.type = 'execution.finished')
    ORDER BY e.position`);
  assert.equal(events.filter((e) => e.type === 'execution.finished').length, 2);
  assert.equal(new Set(events.filter((e) => e.type === 'execution.finished').map((e) => e.xid)).size, 1, 'both ends in one transaction');
  assert.deepEqual(events.filter((e) => e.type === 'task.released').length, 1, 'released once');
  assert.equal((await ts.client.getTask(after!.id)).status, 'pending');
  await decoys.release();
});

test('a failure and a success in one transaction: a strict dependent and its own dependent are blocked, one that accepts failures released, each once', { timeout: 120_000 }, async () => {
  const [a, b] = [await registerWorker(ts, { tags: ['mix-a'] }), await registerWorker(ts, { tags: ['mix-b'] })];
  const { tasks: [failing, passing] } = await ts.client.submitTasks({ tasks: [{ command: 'fails', tag: 'mix-a', max_retries: 0 }, { command: 'passes', tag: 'mix-b' }] });
  const both = [failing!.id, passing!.id];
  const { tasks: [strict, tolerant] } = await ts.client.submitTasks({
    tasks: [{ command: 'strict', tag: 'mix-after', depends_on: both }, { command: 'tolerant', tag: 'mix-after', depends_on: both, accept_failure: true }],
  });
  const { tasks: [chained] } = await ts.client.submitTasks({ tasks: [{ command: 'chained', tag: 'mix-after', depends_on: [strict!.id] }] });
  const xa = (await pollWorker(ts, a, { seq: 1, want: 1 })).assignments[0]!.execution_id;
  const xb = (await pollWorker(ts, b, { seq: 1, want: 1 })).assignments[0]!.execution_id;
  const decoys = await holdDecoys();
  const failed: Report[] = [running, finished('failed')];
  await Promise.all([
    pollWorker(ts, a, { seq: 2, holding: [xa], reports: [{ execution_id: xa, reports: failed }] }),
    pollWorker(ts, b, { seq: 2, holding: [xb], reports: [{ execution_id: xb, reports: reports('ok\n') }] }),
  ]);
  const events = await ts.server.pool.any(sql.unsafe`
    SELECT e.type, e.stream_id, e.xid::text AS xid FROM events e
    WHERE (e.stream_type = 'task' AND e.stream_id = ANY(${sql.array([strict!.id, tolerant!.id, chained!.id], 'int8')}) AND e.type <> 'task.submitted')
       OR (e.stream_type = 'execution' AND e.stream_id = ANY(${sql.array([xa, xb], 'int8')}) AND e.type = 'execution.finished')
    ORDER BY e.position`) as unknown as Array<{ type: string; stream_id: number; xid: string }>;
  assert.equal(new Set(events.map((e) => e.xid)).size, 1, 'both ends and every move of their dependents in one transaction');
  const moves = events.filter((e) => e.type !== 'execution.finished').map((e) => `${e.type} ${e.stream_id}`).sort();
  assert.deepEqual(moves, [`task.blocked ${strict!.id}`, `task.blocked ${chained!.id}`, `task.released ${tolerant!.id}`].sort());
  assert.deepEqual(await Promise.all([strict, tolerant, chained].map(async (t) => (await ts.client.getTask(t!.id)).status)), ['blocked', 'pending', 'blocked']);
  await decoys.release();
});

/**
 * A worker's poll 3 waits for its row, which another transaction holds, and its poll 2, given
 * up on, comes after; a pending task of its tag waits. Served at once in a second transaction,
 * poll 2 would wait behind poll 3 and, once it had the row, still read the poll number from
 * before its wait: poll 3's assignment would be offered to it again. The successor must be
 * served and the one given up on refused as stale.
 */
async function pollsOvertaken(w: Worker): Promise<void> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding!: () => void;
  const isHolding = new Promise<void>((resolve) => (holding = resolve));
  const holder = ts.server.pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SELECT 1 FROM workers WHERE id = ${w.id} FOR UPDATE`);
    holding();
    await released;
  });
  await isHolding;
  const newer = pollWorker(ts, w, { seq: 3, want: 1 });
  await until('poll 3 to wait for the row', async () => (await lockWaits()) >= 1);
  const older = pollWorker(ts, w, { seq: 2 });
  older.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 300));
  release();
  await holder;
  const x = (await newer).assignments[0]!.execution_id;
  await assert.rejects(older, /409 Stale poll: poll 2 of this worker was overtaken by poll 3/);
  assert.equal((await ts.client.getExecution(x)).status, 'assigned');
}

test('a poll given up on and its successor both waiting for their worker\'s row: the successor is served, the one given up on refused as stale', { timeout: 120_000 }, async () => {
  const w = await registerWorker(ts, { tags: ['stale-race'] });
  await pollWorker(ts, w, { seq: 1 });
  await ts.client.submitTasks({ tasks: [{ command: 'x', tag: 'stale-race' }] });
  await pollsOvertaken(w);
});

/** While `during` runs, every write of the liveness of workers named `suspect-bad-…` fails: a fault of those workers' own. */
async function withSuspectFault(during: () => Promise<void>): Promise<void> {
  await ts.server.pool.query(sql.unsafe`
    CREATE FUNCTION test_fail_suspect() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (SELECT name FROM workers WHERE id = NEW.worker_id) LIKE 'suspect-bad-%' THEN RAISE EXCEPTION 'injected failure of the suspect'; END IF;
      RETURN NEW;
    END $$`);
  await ts.server.pool.query(sql.unsafe`CREATE TRIGGER test_fail_suspect BEFORE INSERT OR UPDATE ON worker_liveness FOR EACH ROW EXECUTE FUNCTION test_fail_suspect()`);
  try {
    await during();
  } finally {
    await ts.server.pool.query(sql.unsafe`DROP TRIGGER test_fail_suspect ON worker_liveness`);
    await ts.server.pool.query(sql.unsafe`DROP FUNCTION test_fail_suspect()`);
  }
}

const failedTogether = () => ts.logs.filter((line) => /failed together .*injected failure of the suspect/.test(line)).length;

/** The worker at fault gets its error, the others their answers. */
function faultIsItsOwn(answers: PromiseSettledResult<PollResponse>[]): void {
  const [mine, ...others] = answers;
  assert.ok(mine!.status === 'rejected' && mine.reason instanceof LabqApiError && mine.reason.status >= 500, 'the worker at fault gets its error');
  for (const other of others) assert.equal(other.status, 'fulfilled', other.status === 'rejected' ? String(other.reason) : '');
}

test('a worker whose round fails its batch alone is served alone for a while: the batches of the others no longer fail with it', { timeout: 120_000 }, async () => {
  const workers = [
    await registerWorker(ts, { name: `suspect-bad-${process.pid}`, tags: ['suspect'] }),
    await registerWorker(ts, { tags: ['suspect'] }),
    await registerWorker(ts, { tags: ['suspect'] }),
  ];
  await withSuspectFault(async () => {
    const before = failedTogether();
    const round = (seq: number) => Promise.allSettled(workers.map((w) => pollWorker(ts, w, { seq })));
    // Queued behind the decoys, the three rounds go in one batch, which fails; each then runs alone.
    const decoys = await holdDecoys();
    faultIsItsOwn(await round(1));
    assert.equal(failedTogether() - before, 1, 'the batch of the three failed once');
    // Its next rounds are served alone, however they arrive: no batch fails with it again.
    faultIsItsOwn(await round(2));
    faultIsItsOwn(await round(3));
    assert.equal(failedTogether() - before, 1, 'no batch failed with it since');
    await decoys.release();
  });
});

test('a suspect\'s poll given up on and its successor keep their order: the successor is served, the one given up on refused as stale', { timeout: 120_000 }, async () => {
  const bad = await registerWorker(ts, { name: `suspect-bad-order-${process.pid}`, tags: ['suspect-order'] });
  const other = await registerWorker(ts, { tags: ['suspect-order'] });
  await withSuspectFault(async () => {
    const before = failedTogether();
    const decoys = await holdDecoys();
    faultIsItsOwn(await Promise.allSettled([pollWorker(ts, bad, { seq: 1 }), pollWorker(ts, other, { seq: 1 })]));
    assert.equal(failedTogether() - before, 1, 'it failed the batch it shared');
    await decoys.release();
  });
  // Its fault is gone and it is still served alone: its rounds must keep their order all the same.
  const suspects = (ts.server.rounds as unknown as { suspects: Map<number, number> }).suspects;
  assert.ok((suspects.get(bad.id) ?? 0) > Date.now() + 5_000, 'it is still a suspect for the race below');
  await ts.client.submitTasks({ tasks: [{ command: 'x', tag: 'suspect-order' }] });
  await pollsOvertaken(bad);
});

test('rounds that arrive in one turn of the event loop go in one transaction, with nothing queued before them', { timeout: 120_000 }, async () => {
  const [a, b] = [await registerWorker(ts, { tags: ['gather-a'] }), await registerWorker(ts, { tags: ['gather-b'] })];
  await ts.client.submitTasks({ tasks: [{ command: 'one', tag: 'gather-a' }, { command: 'two', tag: 'gather-b' }] });
  const xa = (await pollWorker(ts, a, { seq: 1, want: 1 })).assignments[0]!.execution_id;
  const xb = (await pollWorker(ts, b, { seq: 1, want: 1 })).assignments[0]!.execution_id;
  const round = (w: Worker, x: number) => ts.server.rounds.serve({
    workerId: w.id, first: true, unwanted: () => false, meta: { actor: 'test', request_id: null, source: null },
    request: {
      instance: w.instance!, seq: 2, holding: [x], want: 0, settings_version: 0, wait_seconds: 0, kill_orders: [], killing: [], suspended: [], progress: [],
      reports: [{ execution_id: x, reports: reports('done\n') }],
    },
  });
  // Served from the same turn: the first does not start a transaction of its own before the second comes.
  await Promise.all([round(a, xa), round(b, xb)]);
  const xids = await ts.server.pool.anyFirst(sql.unsafe`
    SELECT DISTINCT xid::text FROM events WHERE stream_type = 'execution' AND type = 'execution.finished' AND stream_id = ANY(${sql.array([xa, xb], 'int8')})`);
  assert.equal(xids.length, 1, 'both ends in one transaction');
});
