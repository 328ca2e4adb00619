// The log tailer of a server process: the one reader of new events for every SSE client
// of the process. Each wake-up (a NOTIFY on the events channel, a LISTEN reconnect, events
// held back by an older open transaction, or the keep-alive period) costs one commit-safe
// read for all clients, whatever their number, which the clients then filter in process.
// The reads go through the fan-out (listen/fanout.ts): clients that are behind read at their
// own cursor in the same statement until they reach the others.
import type { Pool } from '../db/pool.js';
import { Fanout } from '../listen/fanout.js';
import { EVENTS_CHANNEL, type ListenHub } from '../listen/hub.js';
import { HELD_BACK_RETRY_MS, hasHeldBackEvents, readEventsAfterEach } from './readEvents.js';
import { cursorOf, type StoredEvent } from './types.js';

const BATCH = 500;
/** How often streams look anyway, in case a wake-up was lost. */
const SAFETY_MS = 15_000;

/** What one SSE client is handed: events after its cursor, in order, and its cursor after them. */
export interface EventBatch {
  events: StoredEvent[];
  cursor: string;
  /** The batch was full: more may be readable at once. */
  more: boolean;
}

export type LogTailer = Fanout<string, EventBatch>;

export function logTailer(pool: Pool, hub: ListenHub, log: (line: string) => void): LogTailer {
  return new Fanout<string, EventBatch>(
    hub,
    {
      key: (cursor) => cursor,
      concerns: (channel) => channel === null || channel === EVENTS_CHANNEL,
      async read(cursors) {
        // Checked before the read, as readEventsWithHeldBack does. Every cursor a client got
        // lies below the horizon, so the held-back events all lie after it: one check serves all.
        const heldBack = await hasHeldBackEvents(pool, null);
        const batches = new Map<string, EventBatch>();
        for (const [cursor, events] of await readEventsAfterEach(pool, cursors, BATCH)) {
          if (events.length) batches.set(cursor, { events, cursor: cursorOf(events[events.length - 1]!), more: events.length === BATCH });
        }
        return { batches, lookAgainMs: heldBack ? HELD_BACK_RETRY_MS : undefined };
      },
    },
    log,
    SAFETY_MS,
  );
}
