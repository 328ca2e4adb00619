// The frames of the event stream, built once per event per process rather than once per
// client. The log tailer hands one batch object to every client at the same cursor (all
// those that are caught up), so what a batch becomes on the wire belongs to the batch: the
// first client to write it builds the frame of each event it takes and the payload of its
// filter; every later client with the same filter finds that payload ready and only writes
// it. Both are kept in a WeakMap on the batch, so they go when the batch does.
import { matchesFilter, type EventFilter } from '../events/readEvents.js';
import type { EventBatch } from '../events/tailer.js';
import { cursorOf, eventRecord, type StoredEvent } from '../events/types.js';
import { idFrame, sseFrame } from './sseFormat.js';

/** An event's message: its cursor as `id:`, and the event as GET /events shows it. */
export function eventFrame(event: StoredEvent): string {
  return sseFrame(eventRecord(event), cursorOf(event));
}

/** A client's filter, compiled once when it connects; clients with the same key share payloads. */
export interface EventView {
  key: string;
  takes(event: StoredEvent): boolean;
}

export function eventView(filter: Omit<EventFilter, 'task_id'>): EventView {
  const { stream_type = [], stream_id, type = [] } = filter;
  if (!stream_type.length && stream_id === undefined && !type.length) return { key: '', takes: () => true };
  return { key: JSON.stringify([stream_type, stream_id ?? null, type]), takes: (event) => matchesFilter(event, filter) };
}

interface Shared {
  /** By index in the batch, built when a client first takes the event. */
  frames: string[];
  payloads: Map<string, Buffer>;
}

export class EventFrames {
  private readonly shared = new WeakMap<EventBatch, Shared>();

  /** `frameOf` is only ever replaced by a test that counts its calls. */
  constructor(private readonly frameOf: (event: StoredEvent) => string = eventFrame) {}

  /** What a client with `view` writes for `batch`: the frames of the events it takes, and an id frame past any it skips at the end. */
  payload(batch: EventBatch, view: EventView): Buffer {
    let shared = this.shared.get(batch);
    if (!shared) this.shared.set(batch, (shared = { frames: [], payloads: new Map() }));
    let payload = shared.payloads.get(view.key);
    if (!payload) {
      payload = Buffer.from(this.render(batch, view, shared.frames));
      shared.payloads.set(view.key, payload);
    }
    return payload;
  }

  private render(batch: EventBatch, view: EventView, frames: string[]): string {
    let text = '';
    let lastTaken = false;
    batch.events.forEach((event, i) => {
      lastTaken = view.takes(event);
      if (lastTaken) text += frames[i] ??= this.frameOf(event);
    });
    // The id frame moves the client's Last-Event-ID past the events it filtered out, so a reconnect does not read them again.
    return lastTaken ? text : text + idFrame(batch.cursor);
  }
}
