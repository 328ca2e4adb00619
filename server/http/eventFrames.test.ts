// The event stream serializes once per event per process, not once per client: 100
// followers of one fan-out, handed one batch, make the frame builder run once per event,
// and clients with the same filter write the very same payload. The payloads are byte for
// byte the frames the stream has always sent, with the id-only frame past filtered-out events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventBatch } from '../events/tailer.js';
import { cursorOf, type StoredEvent } from '../events/types.js';
import { Fanout } from '../listen/fanout.js';
import { EventFrames, eventFrame, eventView } from './eventFrames.js';

const event = (position: number, type: 'task.submitted' | 'workflow.created'): StoredEvent => ({
  position, xid: String(700 + position), stream_type: type === 'task.submitted' ? 'task' : 'workflow', stream_id: position, version: 1, type,
  data: { n: position }, meta: { actor: 'tester', request_id: null, source: null }, created_at: '2026-11-30T08:00:00.000001+00:00',
});

const events = [event(1, 'workflow.created'), event(2, 'task.submitted'), event(3, 'task.submitted'), event(4, 'workflow.created')];

/** The wire format, spelled out rather than built with the code under test. */
const message = (e: StoredEvent) => `id: ${e.xid}-${e.position}\ndata: ${JSON.stringify({ ...e, id: `${e.xid}-${e.position}` })}\n\n`;

test('100 followers handed one batch: one frame per event, one payload per filter, the same bytes as ever', async () => {
  let builds = 0;
  const frames = new EventFrames((e) => {
    builds++;
    return eventFrame(e);
  });
  const fanout = new Fanout<string, EventBatch>(
    { subscribe: () => () => undefined },
    {
      key: (cursor) => cursor,
      concerns: () => true,
      read: async (cursors) => ({
        batches: new Map(cursors.filter((c) => c === '0-0').map((c) => [c, { events, cursor: cursorOf(events.at(-1)!), more: false }])),
      }),
    },
    () => undefined,
    60_000,
  );
  const views = [eventView({}), eventView({ type: ['task.*'] })];
  const written: Buffer[][] = [[], []];
  const clients = 100;
  try {
    await new Promise<void>((resolve) => {
      for (let i = 0; i < clients; i++) {
        const which = i % 2;
        const follower = fanout.join('0-0', () => {
          const batch = follower.take()!;
          written[which]!.push(frames.payload(batch, views[which]!));
          follower.advance(batch.cursor, batch.more);
          if (written[0]!.length + written[1]!.length === clients) resolve();
        });
      }
    });
  } finally {
    fanout.stop();
  }
  assert.equal(fanout.reads, 1);
  assert.equal(builds, events.length, 'each event serialized once for all clients');
  for (const payloads of written) assert.ok(payloads.every((p) => p === payloads[0]), 'clients with one filter write one shared buffer');
  assert.equal(written[0]![0]!.toString(), events.map(message).join(''));
  assert.equal(written[1]![0]!.toString(), message(events[1]!) + message(events[2]!) + `id: 704-4\n\n`);
});
