// The write path of every command: append the events and apply them to the projections
// in the caller's transaction, so the API always reads its own writes.
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { applyEvents } from '../projections/applyEvents.js';
import { appendEvents } from './appendEvents.js';
import type { NewEvent, StoredEvent } from './types.js';

export async function recordEvents(tx: Db, events: NewEvent[], meta: EventMeta): Promise<StoredEvent[]> {
  const stored = await appendEvents(tx, events, meta);
  await applyEvents(tx, stored);
  return stored;
}
