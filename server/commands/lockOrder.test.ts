// A relaunch or a release beside bulk commands over some of the same tasks: the lock
// order. A relaunch locks, besides the tasks it matched, their dependencies and the
// dependents it moves; a release locks the dependencies of the tasks it releases. A cancel
// or a hold of a set that holds one of those and a matched task locks them in id order.
// Taken after the matched tasks, they met such a command the other way: a deadlock, a
// second lost to PostgreSQL's deadlock_timeout and a retry (a 503 once the retries ran
// out). Locked with them in one wave, in the common order, PostgreSQL counts none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { rng } from '../../e2e/support/random.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';

/** PostgreSQL's count of deadlocks in the database; a backend adds its own when it ends. */
async function deadlocks(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0].deadlocks);
  } finally {
    await client.end();
  }
}

const ROUNDS = 12;

/**
 * Cancelled a, its blocked dependent b, then cancelled c (a < b < c), and a task d that
 * waits for c: a relaunch of {a, c} locks a and c, then b (the chain it unblocks) and d
 * (the dependent it makes wait again); a cancel of {b, c} locks b, then c; a hold of
 * {c, d} locks c, then d.
 */
async function round(ts: TestServer, tag: string): Promise<void> {
  const cancel = (ids: number[]) => ts.client.call('cancelTasks', { body: { filter: { ids } } });
  const [a] = (await ts.client.submitTasks({ tasks: [{ command: 'true', tag, held: true }] })).tasks;
  const [b] = (await ts.client.submitTasks({ tasks: [{ command: 'true', tag, depends_on: [a.id] }] })).tasks;
  const [c] = (await ts.client.submitTasks({ tasks: [{ command: 'true', tag, held: true }] })).tasks;
  const [d] = (await ts.client.submitTasks({ tasks: [{ command: 'true', tag, depends_on: [c.id], accept_failure: true }] })).tasks;
  await cancel([a.id, c.id]);
  assert.equal((await ts.client.getTask(b.id)).status, 'blocked');
  const answers = await Promise.all([
    ts.client.call('relaunchTasks', { body: { filter: { ids: [a.id, c.id] } } }),
    cancel([b.id, c.id]),
    ts.client.call('holdTasks', { body: { filter: { ids: [c.id, d.id] } } }),
  ]);
  assert.ok(answers.every((r) => r.matched === 2), JSON.stringify(answers));
  // A held f after its dependency e: a release of f locks e too; a cancel of {e, f} locks e, then f.
  const [e] = (await ts.client.submitTasks({ tasks: [{ command: 'true', tag, held: true }] })).tasks;
  const [f] = (await ts.client.submitTasks({ tasks: [{ command: 'true', tag, held: true, depends_on: [e.id] }] })).tasks;
  await Promise.all([
    ts.client.call('releaseTasks', { body: { filter: { ids: [f.id] } } }),
    cancel([e.id, f.id]),
  ]);
}

test('a relaunch, a release, a cancel and a hold over overlapping tasks at once: no deadlock', async (t) => {
  const ts = await startTestServer();
  let closed = false;
  t.after(async () => {
    if (!closed) await ts.close();
  });
  const before = await deadlocks(ts.databaseUrl);
  for (let i = 0; i < ROUNDS; i++) await round(ts, `relaunch-locks-${i}`);
  // Every server connection ends first, so that each backend has added its deadlocks.
  await ts.close();
  closed = true;
  assert.equal((await deadlocks(ts.databaseUrl)) - before, 0);
});

const TASKS = 40;
const WAVES = 30;

/**
 * Steering commands at random over one graph of tasks, three or four at once over random
 * overlapping sets: hold, release, cancel, relaunch, edit, kill. Whatever each finds (a task
 * held, waiting, blocked, cancelled, its status flipped by another meanwhile), each bulk
 * command accounts for every task it names, and none fails. (Such flips are also when a task
 * is locked out of the common order, after the others: PostgreSQL may then abort one of two
 * commands, which runs again. The count is printed, not asserted: the test above holds the
 * cases that must be free of it.)
 */
test('random steering commands at once over one graph of dependencies: every task named is accounted for, every answer a 2xx or a 409', async (t) => {
  const seed = Number(process.env.LABQ_TEST_SEED ?? Date.now() % 100_000);
  const r = rng(seed);
  t.diagnostic(`seed ${seed} (LABQ_TEST_SEED replays it)`);
  const ts = await startTestServer();
  let closed = false;
  t.after(async () => {
    if (!closed) await ts.close();
  });
  const before = await deadlocks(ts.databaseUrl);
  const ids: number[] = [];
  for (let i = 0; i < TASKS; i++) {
    const depends_on = ids.filter(() => r.chance(3 / (ids.length + 1)));
    const [task] = (await ts.client.submitTasks({ tasks: [{ command: 'true', tag: 'random-steering', held: r.chance(0.5), depends_on, accept_failure: r.chance(0.3) }] })).tasks;
    ids.push(task!.id);
  }
  type Bulk = 'holdTasks' | 'releaseTasks' | 'cancelTasks' | 'relaunchTasks';
  const bulk = (name: Bulk) => () => {
    const named = ids.filter(() => r.chance(0.3));
    return { named, answer: ts.client.call(name, { body: { filter: { ids: named } } }) };
  };
  const commands = [
    bulk('holdTasks'), bulk('releaseTasks'), bulk('cancelTasks'), bulk('relaunchTasks'),
    () => {
      const named = ids.filter(() => r.chance(0.3));
      return { named, answer: ts.client.call('editTasks', { body: { filter: { ids: named }, set: { priority: r.int(0, 9) } } }) };
    },
    () => ({ named: null, answer: ts.client.killTask(r.pick(ids)) }),
  ];
  for (let wave = 0; wave < WAVES; wave++) {
    const calls = Array.from({ length: r.int(3, 4) }, () => r.pick(commands)());
    const answers = await Promise.allSettled(calls.map((c) => c.answer));
    answers.forEach((answer, i) => {
      if (answer.status === 'rejected') {
        // A kill of a task that has ended: refused, changing nothing.
        assert.match(String(answer.reason), /\b409\b|Conflict/, `seed ${seed}: ${answer.reason}`);
      } else if (calls[i]!.named) {
        assert.equal((answer.value as { matched: number }).matched, calls[i]!.named!.length, `seed ${seed}: ${JSON.stringify(answer.value)}`);
      }
    });
  }
  await ts.close();
  closed = true;
  t.diagnostic(`deadlocks: ${(await deadlocks(ts.databaseUrl)) - before}`);
});
