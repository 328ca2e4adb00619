// Events as the API shows them, and the filters of the page and stream endpoints.
import { z } from 'zod/v4';
import { Id, PageQuery, Timestamp, csv, SearchText } from './common.js';
import { STREAM_TYPES } from '../events.js';

export const StreamType = z.enum(STREAM_TYPES);

const MAX_XID = 2n ** 63n - 1n;

/** A log cursor `<xid>-<position>`: both within PostgreSQL's bigint, the position a safe JS integer. */
export function isCursor(text: string): boolean {
  const match = /^(\d{1,19})-(\d{1,16})$/.exec(text);
  return !!match && BigInt(match[1]!) <= MAX_XID && Number.isSafeInteger(Number(match[2]));
}

const Cursor = z.string().refine(isCursor, 'a cursor `<xid>-<position>` from a previous event');

export const EventRecord = z.object({
  id: z.string().describe('the cursor of this event: `<xid>-<position>`; resume after it with `after` or Last-Event-ID'),
  position: Id,
  xid: z.string().describe('the id of the transaction that wrote the event (PostgreSQL xid8)'),
  stream_type: StreamType,
  stream_id: Id,
  version: z.number().int(),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  meta: z.record(z.string(), z.unknown()),
  created_at: Timestamp,
});
export type EventRecord = z.infer<typeof EventRecord>;

export const EventFilter = z.object({
  stream_type: csv(StreamType).optional(),
  stream_id: z.coerce.number().int().positive().optional(),
  type: csv(z.string().regex(/^[a-z_]+\.[a-z_]+$|^[a-z_]+\.\*$/, 'an event type such as task.submitted, or task.*')).optional(),
});

/** Where a page of the log starts, and how long it is. */
export const LogPageQuery = z.object({
  after: Cursor.optional(),
  limit: PageQuery.shape.limit,
});

export const EventPageQuery = EventFilter.extend(LogPageQuery.shape);

export const EventLatestQuery = EventFilter.extend({
  before: Cursor.optional().describe('a cursor from a previous page: the events before it'),
  actor: SearchText.optional().describe('only what this actor did (meta.actor: a user, a token or a worker)'),
  limit: PageQuery.shape.limit,
});

export const EventLatest = z.object({
  items: z.array(EventRecord).describe('newest first'),
  next_before: z.string().nullable().describe('pass as `before` for the page of older events; null at the start of the log'),
  head: z.string().nullable().describe('the cursor of the newest readable event of the whole log: follow the stream from it'),
});

export const EventStreamQuery = EventFilter.extend({
  lastEventId: Cursor.optional(),
});

export const EventPage = z.object({
  items: z.array(EventRecord),
  next_cursor: z.string().nullable().describe('pass as `after`; the last event id of this page'),
});

