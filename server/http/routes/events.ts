// Routes of /events: a page of the log, and the live SSE stream. A stream does not read
// the log itself: it follows the process's log tailer (events/tailer.ts), which reads in
// commit-safe order after the client's cursor once per wake-up for every client. Nor does
// it serialize what it is handed: the event frames (eventFrames.ts) build each event's
// frame once per process, and a stream writes the payload its filter makes of a batch.
import type Router from '@koa/router';
import { isCursor } from '../../../shared/schemas/event.js';
import { invalid } from '../../errors.js';
import { readEventsAfter, readEventsBefore } from '../../events/readEvents.js';
import { cursorOf, eventRecord, type StoredEvent } from '../../events/types.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';
import { EventFrames, eventView } from '../eventFrames.js';
import { SseConnection } from '../sse.js';
import { streamFollower } from '../sseFollower.js';

/** A page of the log as /events and /tasks/{id}/events answer it: a full one names where the next starts. */
export function eventPage(events: StoredEvent[], limit: number) {
  return { items: events.map(eventRecord), next_cursor: events.length === limit ? cursorOf(events[events.length - 1]!) : null };
}

export function eventRoutes(router: Router, { pool, tailer, log }: ServerContext): void {
  const frames = new EventFrames();

  bind(router, 'listEvents', async ({ query }) => {
    const { after, limit, ...filter } = query;
    return eventPage(await readEventsAfter(pool, after ?? null, filter, limit), limit);
  });

  bind(router, 'latestEvents', async ({ query }) => {
    const { before, limit, ...filter } = query;
    const [events, [newest]] = await Promise.all([readEventsBefore(pool, before ?? null, filter, limit), readEventsBefore(pool, null, {}, 1)]);
    return {
      items: events.map(eventRecord),
      next_before: events.length === limit ? cursorOf(events[events.length - 1]!) : null,
      head: newest ? cursorOf(newest) : null,
    };
  });

  bind(router, 'streamEvents', async ({ query, ctx }) => {
    const header = ctx.get('last-event-id');
    if (header && !isCursor(header)) {
      throw invalid([{ field: 'Last-Event-ID', message: 'a cursor `<xid>-<position>` from a previous event' }]);
    }
    const { lastEventId, ...filter } = query;
    const view = eventView(filter);
    await streamFollower(new SseConnection(ctx), tailer, header || lastEventId || '0-0', (batch) => ({
      payload: frames.payload(batch, view),
      next: batch.cursor,
      more: batch.more,
    }), log);
  });
}
