// One reader per process for all streams: 200 SSE clients of one server each receive every
// event once and in order while the log tailer reads once per wake-up, not once per client;
// a client resuming from its last id during live traffic misses nothing and gets nothing
// twice; several followers of several executions each get exactly their output, read for
// all of them at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { rng } from '../../e2e/support/random.js';
import { finished } from '../../e2e/support/reports.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { pollWorker, registerWorker } from '../../e2e/support/workerApi.js';
import { until } from '../../e2e/support/worker.js';
import { recordEvents } from '../events/recordEvents.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const meta = { actor: 'writer', request_id: null, source: null };

/** `count` workflow.created events in one transaction that stays open `holdMs` after appending. */
async function write(count: number, holdMs = 0): Promise<number[]> {
  return ts.server.pool.transaction(async (tx) => {
    const events = [];
    for (let i = 0; i < count; i++) {
      const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('workflow_ids')`));
      events.push({ type: 'workflow.created' as const, streamId: id, version: 1, data: { name: `w${id}`, description: null } });
    }
    const positions = await recordEvents(tx, events, meta);
    if (holdMs) await tx.query(sql.unsafe`SELECT pg_sleep(${holdMs / 1000})`);
    return positions;
  });
}

/**
 * The cursor of the last event written: where a client that wants only new events starts.
 * Nothing writes between the tests; the horizon is not asked, since other test files in
 * the same cluster hold it back.
 */
async function headCursor(): Promise<string> {
  return String(await ts.server.pool.oneFirst(sql.unsafe`
    SELECT coalesce((SELECT xid::text || '-' || position FROM events ORDER BY xid DESC, position DESC LIMIT 1), '0-0')`));
}

/** Follows the event stream from `lastEventId`, calling `onEvent` with each event, until aborted or `onEvent` says stop. */
async function follow(lastEventId: string, signal: AbortSignal, onEvent: (event: { position: number; id: string }) => boolean | void): Promise<void> {
  try {
    for await (const message of ts.client.stream('streamEvents', { signal, lastEventId })) {
      if (onEvent(JSON.parse(message.data)) === false) return;
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  }
}

test('200 SSE clients each receive every event once, in order, for one log read per wake-up', async (t) => {
  const clients = 200;
  const transactions = 10;
  const start = await headCursor();
  const controller = new AbortController();
  const received: number[][] = Array.from({ length: clients }, () => []);
  const readers = received.map((got) => follow(start, controller.signal, (e) => void got.push(e.position)));
  try {
    await until('every client to follow the tailer', async () => ts.server.tailer.size === clients);
    await until('the tailer to be idle', async () => {
      const before = ts.server.tailer.reads;
      await new Promise((r) => setTimeout(r, 100));
      return ts.server.tailer.reads === before;
    });
    const readsBefore = ts.server.tailer.reads;
    const written: number[] = [];
    for (let i = 0; i < transactions; i++) {
      written.push(...(await write(3)));
      await new Promise((r) => setTimeout(r, 20));
    }
    await until('every client to receive every event', async () => received.every((got) => got.length >= written.length), 30_000);
    const reads = ts.server.tailer.reads - readsBefore;
    t.diagnostic(`${clients} clients, ${transactions} write transactions: ${reads} log reads`);
    for (const got of received) assert.deepEqual(got, written);
    // One wake-up per transaction, and more for events held back at a wake-up (another test's
    // transaction in the same cluster holds back the snapshot's xmin: 69 reads were seen under
    // a full suite); a read per client would be at least clients × transactions.
    assert.ok(reads < clients, `${reads} reads`);
  } finally {
    controller.abort();
    await Promise.all(readers);
  }
});

test('a client resuming from its last id during live traffic gets no gap and no duplicate', async () => {
  const r = rng(Number(process.env.LABQ_SEED ?? 7));
  const start = await headCursor();
  const others = new AbortController();
  // Other clients at the tailer's cursor, so that the resuming one has someone to catch up with.
  const bystanders = Array.from({ length: 20 }, () => follow(start, others.signal, () => undefined));
  let writing = true;
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; i < 40; i++) await write(1 + (i % 3), w % 2 ? r.int(0, 30) : 0);
  });
  const done = Promise.all(writers).then(() => (writing = false));
  try {
    const first: { position: number; id: string }[] = [];
    await follow(start, new AbortController().signal, (e) => first.push(e) < 60);
    const second: { position: number; id: string }[] = [];
    const resumed = new AbortController();
    const resuming = follow(first.at(-1)!.id, resumed.signal, (e) => void second.push(e));
    await done;
    assert.equal(writing, false);
    const expected = (await ts.server.pool.anyFirst(sql.unsafe`
      SELECT position FROM events
      WHERE (xid, position) > (split_part(${start}, '-', 1)::xid8, split_part(${start}, '-', 2)::bigint)
      ORDER BY events.xid, events.position`)) as number[];
    await until('the resumed client to reach the end', async () => first.length + second.length >= expected.length, 30_000);
    resumed.abort();
    await resuming;
    assert.deepEqual([...first, ...second].map((e) => e.position), expected);
  } finally {
    others.abort();
    await Promise.all(bystanders);
  }
});

test('followers of several executions each get exactly their output, read for all of them at once', async (t) => {
  const executions = 3;
  const rounds = 5;
  const worker = await registerWorker(ts, { tags: ['fanout'] });
  await ts.client.submitTasks({ tasks: Array.from({ length: executions }, (_, i) => ({ command: `echo ${i}`, tag: 'fanout' })) });
  const ids = (await pollWorker(ts, worker, { want: executions })).assignments.map((a) => a.execution_id);
  assert.equal(ids.length, executions);
  const followers = ids.flatMap((id) => [undefined, undefined, 'stdout' as const, 'stderr' as const].map((stream) => ({ id, stream, text: '', end: '' })));
  const following = followers.map(async (f) => {
    for await (const m of ts.client.stream('executionOutput', { params: { id: f.id }, query: { follow: '1', ...(f.stream ? { stream: f.stream } : {}) } })) {
      if (m.event === 'end') {
        f.end = JSON.parse(m.data).status;
        return;
      }
      f.text += JSON.parse(m.data).text;
    }
  });
  await until('every follower to follow the output reader', async () => ts.server.outputs.size === followers.length);
  const readsBefore = ts.server.outputs.reads;
  let requests = 0;
  for (const id of ids) {
    requests++;
    await ts.client.sendReports(id, { reports: [{ kind: 'phase', phase: 'running' }] });
  }
  for (let i = 0; i < rounds; i++) {
    for (const id of ids) {
      requests++;
      await ts.client.sendReports(id, {
        reports: [
          { kind: 'output', stream: 'stdout', seq: i, data: Buffer.from(`${id} out ${i}\n`).toString('base64') },
          { kind: 'output', stream: 'stderr', seq: i, data: Buffer.from(`${id} err ${i}\n`).toString('base64') },
        ],
      });
    }
  }
  for (const id of ids) {
    requests++;
    await ts.client.sendReports(id, { reports: [finished()] });
  }
  await Promise.all(following);
  const reads = ts.server.outputs.reads - readsBefore;
  t.diagnostic(`${followers.length} followers of ${executions} executions, ${requests} report requests: ${reads} output reads`);
  for (const f of followers) {
    const lines = Array.from({ length: rounds }, (_, i) => [`${f.id} out ${i}\n`, `${f.id} err ${i}\n`]);
    const expected = lines.map(([out, err]) => (f.stream === 'stdout' ? out : f.stream === 'stderr' ? err : out! + err!)).join('');
    assert.equal(f.text, expected, `follower of ${f.id} (${f.stream ?? 'both streams'})`);
    assert.equal(f.end, 'succeeded');
  }
  // At most one read per wake-up whatever the number of followers.
  assert.ok(reads <= requests + 3, `${reads} reads`);
});
