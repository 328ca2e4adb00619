// Routes of /events: a page of the log, and the live SSE stream. The stream reads the
// log in commit-safe order (events/readEvents.ts) after the client's cursor, filters in
// process, then waits for the LISTEN hub to say that events were written. When events
// exist that are still held back by an open older transaction, it looks again shortly,
// since that transaction may commit without writing an event (and so without a NOTIFY).
import type Router from '@koa/router';
import { isCursor } from '../../../shared/schemas/event.js';
import { invalid } from '../../errors.js';
import { HELD_BACK_RETRY_MS, matchesFilter, readEventsAfter, readEventsWithHeldBack } from '../../events/readEvents.js';
import { cursorOf, type StoredEvent } from '../../events/types.js';
import { OUTPUT_CHANNEL } from '../../listen/hub.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';
import { SseConnection } from '../sse.js';

const BATCH = 500;

const record = (e: StoredEvent) => ({ ...e, id: cursorOf(e) });

/** A page of the log as /events and /tasks/{id}/events answer it: a full one names where the next starts. */
export function eventPage(events: StoredEvent[], limit: number) {
  return { items: events.map(record), next_cursor: events.length === limit ? cursorOf(events[events.length - 1]!) : null };
}

export function eventRoutes(router: Router, { pool, hub }: ServerContext): void {
  bind(router, 'listEvents', async ({ query }) => {
    const { after, limit, ...filter } = query;
    return eventPage(await readEventsAfter(pool, after ?? null, filter, limit), limit);
  });

  bind(router, 'streamEvents', async ({ query, ctx }) => {
    const header = ctx.get('last-event-id');
    if (header && !isCursor(header)) {
      throw invalid([{ field: 'Last-Event-ID', message: 'a cursor `<xid>-<position>` from a previous event' }]);
    }
    const { lastEventId, ...filter } = query;
    let cursor: string | null = header || lastEventId || null;
    const sse = new SseConnection(ctx);
    const unsubscribe = hub.subscribe((channel) => channel !== OUTPUT_CHANNEL && sse.wake());
    try {
      while (!sse.closed) {
        const { events, heldBack } = await readEventsWithHeldBack(pool, cursor, {}, BATCH);
        let delivered: string | null = null;
        for (const event of events) {
          if (matchesFilter(event, filter)) {
            delivered = cursorOf(event);
            await sse.send(record(event), delivered);
          }
        }
        if (events.length) {
          cursor = cursorOf(events[events.length - 1]!);
          if (delivered !== cursor) await sse.advance(cursor);
        }
        if (events.length === BATCH) continue;
        await sse.wait(heldBack ? HELD_BACK_RETRY_MS : 60_000);
      }
    } finally {
      unsubscribe();
      sse.end();
    }
  });
}
