// Routes of /events: a page of the log, and the live SSE stream. A stream does not read
// the log itself: it follows the process's log tailer (events/tailer.ts), which reads in
// commit-safe order after the client's cursor once per wake-up for every client; the
// stream filters what it is handed and writes it out.
import type Router from '@koa/router';
import { isCursor } from '../../../shared/schemas/event.js';
import { invalid } from '../../errors.js';
import { matchesFilter, readEventsAfter } from '../../events/readEvents.js';
import { cursorOf, type StoredEvent } from '../../events/types.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';
import { SseConnection } from '../sse.js';

const record = (e: StoredEvent) => ({ ...e, id: cursorOf(e) });

/** A page of the log as /events and /tasks/{id}/events answer it: a full one names where the next starts. */
export function eventPage(events: StoredEvent[], limit: number) {
  return { items: events.map(record), next_cursor: events.length === limit ? cursorOf(events[events.length - 1]!) : null };
}

export function eventRoutes(router: Router, { pool, tailer }: ServerContext): void {
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
    const sse = new SseConnection(ctx);
    const follower = tailer.join(header || lastEventId || '0-0', () => sse.wake());
    try {
      while (!sse.closed) {
        const batch = follower.take();
        if (!batch) {
          await sse.wait(60_000);
          continue;
        }
        let delivered: string | null = null;
        for (const event of batch.events) {
          if (matchesFilter(event, filter)) {
            delivered = cursorOf(event);
            await sse.send(record(event), delivered);
          }
        }
        if (delivered !== batch.cursor) await sse.advance(batch.cursor);
        follower.advance(batch.cursor, batch.more);
      }
    } finally {
      follower.leave();
      sse.end();
    }
  });
}
