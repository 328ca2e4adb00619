// The shapes of events as the server handles them: a new event before it is appended,
// and a stored event as read back from the log.
import type { EventData, EventMeta, EventType, StreamType } from '../../shared/events.js';

export interface NewEvent<T extends EventType = EventType> {
  type: T;
  streamId: number;
  /** The stream's version after this event: the expected current version + 1. */
  version: number;
  data: EventData<T>;
  /** Who and what request caused it, when it differs from the rest of its batch (the exchanges of many workers in one transaction). */
  meta?: EventMeta;
}

export interface StoredEvent {
  position: number;
  xid: string;
  stream_type: StreamType;
  stream_id: number;
  version: number;
  type: EventType;
  data: Record<string, any>;
  meta: EventMeta;
  /** Full precision (microseconds), so projections copy it exactly. */
  created_at: string;
}

/**
 * What the projections read of an event: a stored one (a rebuild), or one written in the
 * same statement as its first projections, whose time is then the transaction's, now()
 * (the log's default), and not known before.
 */
export type ProjectedEvent = Pick<StoredEvent, 'stream_type' | 'stream_id' | 'version' | 'type' | 'data' | 'meta'> & { created_at?: string };

/** The cursor of a reader of the log: the event's transaction id and position. */
export function cursorOf(event: Pick<StoredEvent, 'xid' | 'position'>): string {
  return `${event.xid}-${event.position}`;
}

/** An event as the API shows it (pages and the stream): the stored event with its cursor as `id`. */
export function eventRecord(event: StoredEvent): StoredEvent & { id: string } {
  return { ...event, id: cursorOf(event) };
}

export function parseCursor(cursor: string): { xid: string; position: number } {
  const [xid, position] = cursor.split('-');
  return { xid: xid ?? '0', position: Number(position ?? 0) };
}
