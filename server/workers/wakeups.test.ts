// Which parked polls a change wakes (wakeups.ts): as many as the new tasks need, not every
// poll of their tag; the rest handed on when a woken poll cannot take them. Real server,
// real PostgreSQL; polls driven through the API as a daemon drives them.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import pg from 'pg';
import { sql } from 'slonik';
import type { PollResponse, Worker } from '../../shared/schemas/worker.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { settles, until } from '../../e2e/support/worker.js';
import { parkedPoll, pollWorker, registerWorker } from '../../e2e/support/workerApi.js';
import { pollRounds } from './poll.js';

/** Only to turn a hang into a failure; never an assertion about how long anything took. */
const HANG_MS = 30_000;
/** Polls park 60 s (a third of the lease is more): only a wake-up answers one within HANG_MS. */
const LONG_PARK = { leaseSeconds: 600 };

async function server(t: TestContext): Promise<TestServer> {
  const ts = await startTestServer({ settings: LONG_PARK });
  t.after(() => ts.close());
  return ts;
}

const noHang = <T>(what: string, promise: Promise<T>) => settles(what, promise, HANG_MS);

type Parked = Awaited<ReturnType<typeof parkedPoll>>;

async function park(ts: TestServer, worker: Worker, want: number): Promise<Parked> {
  const { settings_version } = await pollWorker(ts, worker);
  return parkedPoll(ts, worker, { want, settings_version });
}

/**
 * A worker of a tag of its own, parked: once a task of that tag, submitted after whatever
 * came before, has reached it, the rounds those earlier notifications woke have run
 * (notifications are taken in order, and rounds queue in the order they are woken).
 */
async function barrier(ts: TestServer, tag: string): Promise<void> {
  const sentinel = await registerWorker(ts, { tags: [tag] });
  const parked = await park(ts, sentinel, 1);
  await ts.client.submitTasks({ command: 'barrier', tag });
  assert.equal((await noHang('the sentinel poll', parked.response)).assignments.length, 1);
}

const rounds = (workers: Worker[]) => workers.map((w) => pollRounds(w.id));

test('new tasks wake as many parked polls as they need, not every poll of their tag', async (t) => {
  const ts = await server(t);
  const workers = await Promise.all(Array.from({ length: 6 }, () => registerWorker(ts, { tags: ['herd'] })));
  const parked: Parked[] = [];
  for (const w of workers) parked.push(await park(ts, w, 1));
  const before = rounds(workers);

  const { tasks } = await ts.client.submitTasks({ tasks: [{ command: 'a', tag: 'herd' }, { command: 'b', tag: 'herd' }] });
  const answered = await noHang('two polls answered', new Promise<PollResponse[]>((resolve) => {
    const got: PollResponse[] = [];
    for (const p of parked) void p.response.then((r) => (got.push(r), got.length === 2 && resolve(got)), () => undefined);
  }));
  assert.deepEqual(answered.flatMap((r) => r.assignments.map((a) => a.task.id)).sort(), tasks.map((x) => x.id).sort(), 'each woken poll took one');
  await barrier(ts, 'herd-barrier');

  const ran = rounds(workers).map((n, i) => n - before[i]!);
  assert.equal(ran.reduce((a, b) => a + b, 0), 2, `one round for each new task, not one for each parked poll (rounds run: ${ran.join(', ')})`);
  assert.equal(parked.filter((p) => p.settled()).length, 2, 'the other four stay parked');
});

test('a task the woken poll cannot take is handed on to a parked poll that can', async (t) => {
  const ts = await server(t);
  // Parked first, so woken first: it has no GPU.
  const plain = await registerWorker(ts, { tags: ['fit'] });
  const gpu = await registerWorker(ts, { tags: ['fit'], gpus: 1 });
  const plainParked = await park(ts, plain, 1);
  const gpuParked = await park(ts, gpu, 1);
  const [plainBefore] = rounds([plain]);

  const { tasks: [task] } = await ts.client.submitTasks({ command: 'needs a gpu', tag: 'fit', requirements: { gpus: 1 } });
  const answer = await noHang('the GPU worker\'s parked poll', gpuParked.response);
  assert.deepEqual(answer.assignments.map((a) => a.task.id), [task!.id]);
  assert.ok(pollRounds(plain.id) > plainBefore!, 'the poll woken first looked, and handed the task on');
  assert.equal(plainParked.settled(), false, 'it found nothing it could take and parked again');
});

test('a parked poll without a free slot is not woken by new tasks; one for its worker still is', async (t) => {
  const ts = await server(t);
  const full = await registerWorker(ts, { tags: ['slots'] });
  const free = await registerWorker(ts, { tags: ['slots'] });
  const fullParked = await park(ts, full, 0);
  const freeParked = await park(ts, free, 1);
  const [fullBefore] = rounds([full]);

  await ts.client.submitTasks({ command: 'one', tag: 'slots' });
  assert.equal((await noHang('the poll with a free slot', freeParked.response)).assignments.length, 1);
  await barrier(ts, 'slots-barrier');
  assert.equal(pollRounds(full.id), fullBefore, 'no round for a poll that could take nothing');

  await ts.client.updateWorker(full.id, { concurrency: 3 });
  const changed = await noHang('the full worker\'s poll after a settings change', fullParked.response);
  assert.equal(changed.settings.concurrency, 3);
});

test('a woken poll whose round fails hands the task on', async (t) => {
  const ts = await server(t);
  const stale = await registerWorker(ts, { tags: ['failing'] });
  const other = await registerWorker(ts, { tags: ['failing'] });
  const { settings_version } = await pollWorker(ts, stale, { seq: 1 });
  // Parked first, so woken first; then overtaken by its worker's next poll, so its round is
  // refused. That poll goes through another server process: one reaching the same process
  // would end the parked one at once, which then runs no round (the test below).
  const late = await parkedPoll(ts, stale, { seq: 2, want: 1, settings_version });
  const two = await startTestServer({ databaseUrl: ts.databaseUrl, settings: LONG_PARK });
  t.after(() => two.close());
  await pollWorker(two, stale, { seq: 3, want: 0, settings_version });
  const otherParked = await park(ts, other, 1);

  const { tasks: [task] } = await ts.client.submitTasks({ command: 'one', tag: 'failing' });
  await assert.rejects(noHang('the overtaken poll', late.response), /409 Stale poll/);
  const answer = await noHang('the other worker\'s parked poll', otherParked.response);
  assert.deepEqual(answer.assignments.map((a) => a.task.id), [task!.id]);
});

test('two statements of one transaction that each make a task claimable are two notifications', async (t) => {
  const ts = await server(t);
  const { tasks: [first] } = await ts.client.submitTasks({ command: 'first', tag: 'blocker' });
  const { tasks } = await ts.client.submitTasks({ tasks: [{ command: 'a', tag: 'twice', depends_on: [first!.id] }, { command: 'b', tag: 'twice', depends_on: [first!.id] }] });
  const listener = new pg.Client({ connectionString: ts.databaseUrl });
  await listener.connect();
  t.after(() => listener.end());
  const payloads: string[] = [];
  listener.on('notification', (n) => payloads.push(n.payload ?? ''));
  await listener.query('LISTEN labq_work');
  // As the releases of two workers' dependents in one exchange batch: a statement each.
  await ts.server.pool.transaction(async (tx) => {
    for (const task of tasks) await tx.query(sql.unsafe`UPDATE tasks SET status = 'pending' WHERE id = ${task.id} AND status = 'waiting'`);
  });
  // A notification the listener's own connection sends after the transaction arrives after its notifications.
  await listener.query(`NOTIFY labq_work, 'end'`);
  await until('the end marker', async () => payloads.includes('end'), HANG_MS);
  const counts = payloads.flatMap((p) => p.split(',')).filter((token) => token.startsWith('tag:twice:'));
  assert.deepEqual(counts, ['tag:twice:1', 'tag:twice:1'], `payloads: ${JSON.stringify(payloads)}`);
});

test('a notification too long to name its tags wakes every parked poll', async (t) => {
  const ts = await server(t);
  const w = await registerWorker(ts, { tags: ['wide-0007'] });
  const parked = await park(ts, w, 1);
  // 600 tags in one statement: a payload past 7,000 characters is sent as `*`.
  const { tasks } = await ts.client.submitTasks({ tasks: Array.from({ length: 600 }, (_, i) => ({ command: 'x', tag: `wide-${String(i).padStart(4, '0')}` })) });
  const answer = await noHang('the parked poll', parked.response);
  assert.deepEqual(answer.assignments.map((a) => a.task.id), [tasks[7]!.id]);
});

test('a task taken by a poll of another server process wakes no more polls of this one', async (t) => {
  const one = await server(t);
  const two = await startTestServer({ databaseUrl: one.databaseUrl, settings: LONG_PARK });
  t.after(() => two.close());
  const workers = await Promise.all(Array.from({ length: 4 }, () => registerWorker(one, { tags: ['shared'] })));
  // Two polls on each process, the first of each parked first: each process wakes its first for the task.
  const parked = [await park(one, workers[0]!, 1), await park(two, workers[1]!, 1), await park(one, workers[2]!, 1), await park(two, workers[3]!, 1)];
  const before = rounds(workers);

  const { tasks: [task] } = await one.client.submitTasks({ command: 'one', tag: 'shared' });
  const winner = await noHang('one of the woken polls', Promise.race([parked[0]!.response, parked[1]!.response]));
  assert.deepEqual(winner.assignments.map((x) => x.task.id), [task!.id]);
  // Ordered after the task's notification on both processes, and after the look the loser's short round made.
  await barrier(one, 'shared-barrier-1');
  await barrier(two, 'shared-barrier-2');
  const ran = rounds(workers).map((n, i) => n - before[i]!);
  assert.deepEqual(ran, [1, 1, 0, 0], 'each process woke one poll; the loser found the task taken and woke no other');
  assert.equal(parked.filter((p) => p.settled()).length, 1);
});

test('a parked exchange is answered at once, with nothing, when a newer exchange of its own worker comes; not for another worker\'s', async (t) => {
  const ts = await server(t);
  const w = await registerWorker(ts, { tags: ['given-up'] });
  const other = await registerWorker(ts, { tags: ['given-up-other'] });
  const { settings_version } = await pollWorker(ts, w, { seq: 1 });

  // Another worker's exchange, whatever its number, leaves this one parked: it takes the task.
  const first = await parkedPoll(ts, w, { want: 1, settings_version, seq: 2 });
  await pollWorker(ts, other, { seq: 9 });
  const { tasks: [one] } = await ts.client.submitTasks({ command: 'one', tag: 'given-up' });
  const [assigned] = (await noHang('the parked poll', first.response)).assignments;
  assert.equal(assigned?.task.id, one!.id);

  // Its worker's next exchange ends the parked one, which claims nothing more.
  const holding = [assigned!.execution_id];
  const older = await parkedPoll(ts, w, { want: 1, settings_version, seq: 3, holding });
  const rounds = older.roundsSeen();
  const newer = await parkedPoll(ts, w, { want: 1, settings_version, seq: 4, holding });
  const answer = await noHang('the exchange given up on', older.response);
  assert.deepEqual(answer.assignments, []);
  const { tasks: [two] } = await ts.client.submitTasks({ command: 'two', tag: 'given-up' });
  assert.deepEqual((await noHang('the newer exchange', newer.response)).assignments.map((a) => a.task.id), [two!.id]);
  assert.equal(older.roundsSeen() - rounds, 2, 'the newer exchange\'s two rounds; none more of the one given up on');
});

test('a parked exchange its worker says it gave up on is answered at once on another server process too, and runs no further round', async (t) => {
  const one = await server(t);
  const two = await startTestServer({ databaseUrl: one.databaseUrl, settings: LONG_PARK });
  t.after(() => two.close());
  const w = await registerWorker(one, { tags: ['given-up-far'] });
  const { settings_version } = await pollWorker(one, w, { seq: 1 });
  const older = await parkedPoll(one, w, { want: 1, settings_version, seq: 2 });
  const rounds = older.roundsSeen();
  // The newer exchange reaches the other process: only its `gave_up` tells the first.
  const newer = await parkedPoll(two, w, { want: 1, settings_version, seq: 3, gave_up: 2 });
  assert.deepEqual((await noHang('the exchange given up on', older.response)).assignments, []);
  assert.equal(older.roundsSeen() - rounds, 1, 'the newer exchange\'s first round; none of the one given up on: answered, not refused');
  const { tasks: [task] } = await one.client.submitTasks({ command: 'far', tag: 'given-up-far' });
  assert.deepEqual((await noHang('the newer exchange', newer.response)).assignments.map((a) => a.task.id), [task!.id]);
});
