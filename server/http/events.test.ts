// The SSE stream: replay from a cursor, then live; a client that reconnects with its
// last id misses nothing and receives nothing twice, even while 8 writers commit out of
// order (each holds its transaction open for a random time after appending).
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, test } from 'node:test';
import { sql } from 'slonik';
import { rng } from '../../e2e/support/random.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { recordEvents } from '../events/recordEvents.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => ts.close());

const meta = { actor: 'writer', request_id: null, source: null };

/** One workflow.created event in a transaction that stays open `holdMs` after appending. */
async function slowWrite(holdMs: number): Promise<number> {
  return ts.server.pool.transaction(async (tx) => {
    const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('workflow_ids')`));
    const [position] = await recordEvents(tx, [{ type: 'workflow.created', streamId: id, version: 1, data: { name: `w${id}`, description: null } }], meta);
    await tx.query(sql.unsafe`SELECT pg_sleep(${holdMs / 1000})`);
    return position!;
  });
}

async function allPositions(): Promise<number[]> {
  return (await ts.server.pool.anyFirst(sql.unsafe`SELECT position FROM events ORDER BY position`)) as number[];
}

interface Received {
  position: number;
  id: string;
}

/** Reads up to `max` events after `lastEventId`, then hangs up. */
async function readSome(lastEventId: string | null, max: number, viaQuery: boolean, idleMs = 1500): Promise<{ got: Received[]; last: string | null }> {
  const controller = new AbortController();
  const got: Received[] = [];
  let last = lastEventId;
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => controller.abort(), idleMs);
  };
  arm();
  try {
    const stream = ts.client.stream('streamEvents', {
      signal: controller.signal,
      ...(viaQuery ? { query: lastEventId ? { lastEventId } : {} } : { lastEventId: lastEventId ?? undefined }),
    });
    for await (const message of stream) {
      arm();
      const event = JSON.parse(message.data);
      assert.equal(message.id, event.id);
      got.push({ position: event.position, id: event.id });
      last = message.id;
      if (got.length >= max) break;
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(idle);
    controller.abort();
  }
  return { got, last };
}

test('reconnecting with the last id under 8 concurrent out-of-order writers: no gap, no duplicate', async () => {
  const r = rng(Number(process.env.LABQ_SEED ?? 42));
  // The readers draw from a generator of their own, which the writers' timing does not
  // interleave: their sizes are the seed's. At most 40 events a read, the 480 events written
  // take at least twelve reconnections, whatever the timing (at most 80 once took nine).
  const reads = rng(Number(process.env.LABQ_SEED ?? 42) + 1);
  const written: number[] = [];
  let writing = true;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; i < 60; i++) {
      written.push(await slowWrite(w % 2 === 0 ? r.int(0, 80) : r.int(0, 5)));
      if (i % 10 === 0) await ts.client.submitTasks({ tasks: [{ command: `echo ${w}-${i}` }, { command: 'true' }] });
    }
  });
  const done = Promise.all(writers).then(() => {
    writing = false;
  });

  const received: Received[] = [];
  let last: string | null = null;
  let reconnects = 0;
  while (writing || received.length < (await allPositions()).length) {
    const chunk = await readSome(last, reads.int(3, 40), reconnects % 2 === 1);
    received.push(...chunk.got);
    last = chunk.last;
    reconnects++;
    assert.ok(reconnects < 2000, 'the stream makes progress');
  }
  await done;

  const positions = received.map((e) => e.position);
  assert.equal(new Set(positions).size, positions.length, 'no event received twice');
  assert.deepEqual([...positions].sort((a, b) => a - b), await allPositions(), 'every event received');
  assert.ok(reconnects > 10, `reconnected ${reconnects} times`);
  assert.equal(written.length, 480);
});

test('filters by stream type, stream id and event type, and replays before going live', async () => {
  const wf = await ts.client.createWorkflow({ name: 'filtered' });
  const controller = new AbortController();
  const seen: any[] = [];
  const reading = (async () => {
    try {
      for await (const m of ts.client.stream('streamEvents', { signal: controller.signal, query: { stream_type: ['task'], type: ['task.*'] } })) {
        seen.push(JSON.parse(m.data));
        if (seen.some((e) => e.data.command === 'echo live')) break;
      }
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  await new Promise((res) => setTimeout(res, 200));
  await ts.client.submitTasks({ command: 'echo live' });
  const timer = setTimeout(() => controller.abort(), 10_000);
  await reading;
  clearTimeout(timer);
  assert.ok(seen.length > 1, 'replayed earlier task events, then the live one');
  assert.ok(seen.every((e) => e.stream_type === 'task' && e.type.startsWith('task.')));
  assert.ok(seen.some((e) => e.data.command === 'echo live'));

  const one: any[] = [];
  for await (const m of ts.client.stream('streamEvents', { query: { stream_type: ['workflow'], stream_id: wf.id } })) {
    one.push(JSON.parse(m.data));
    break;
  }
  assert.equal(one[0].stream_id, wf.id);
  assert.equal(one[0].type, 'workflow.created');
});

test('a malformed Last-Event-ID is a 400 problem', async () => {
  const response = await fetch(`${ts.url}/api/v1/events/stream`, {
    headers: { authorization: `Bearer ${ts.token}`, 'last-event-id': 'garbage' },
  });
  assert.equal(response.status, 400);
  assert.match(response.headers.get('content-type') ?? '', /problem\+json/);
  assert.equal(((await response.json()) as any).errors[0].field, 'Last-Event-ID');
});

test('the events page and the stream share cursors', async () => {
  const page = await ts.client.listEvents({ limit: 5 });
  assert.equal(page.items.length, 5);
  const next = await ts.client.listEvents({ after: page.next_cursor!, limit: 5 });
  assert.ok(next.items[0]!.position !== page.items[4]!.position);
  const { got } = await readSome(page.next_cursor, 5, false);
  assert.deepEqual(got.map((e) => e.position), next.items.map((e) => e.position));
});

test('HEAD on the event stream answers its headers at once and leaves the connection usable', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const head = (path: string) =>
    new Promise<{ status: number; type: string }>((resolve, reject) => {
      const req = request(`${ts.url}${path}`, { method: 'HEAD', agent, headers: { authorization: `Bearer ${ts.token}` } }, (res) => {
        res.resume().on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'] ?? '' }));
      });
      req.on('error', reject).end();
    });
  const stream = await head('/api/v1/events/stream');
  assert.equal(stream.status, 200);
  assert.match(stream.type, /text\/event-stream/);
  assert.equal((await head('/healthz')).status, 200, 'the same connection serves the next request');
  agent.destroy();
});
