// The write path of every command: append the events and apply them to the projections
// in the caller's transaction, so the API always reads its own writes. A large batch (a
// bulk submit of 10,000 tasks) goes in slices of CHUNK events, each appended and applied
// before the next is built: the same statements per event, but the server holds one
// slice's parameters and returned rows at a time instead of the whole batch's (a
// 10,000-task submit peaked near 400 MiB of resident memory).
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { applyEvents } from '../projections/applyEvents.js';
import { appendEvents } from './appendEvents.js';
import type { NewEvent } from './types.js';

const CHUNK = 1000;

/** Returns the events' positions in the log, in order. */
export async function recordEvents(tx: Db, events: NewEvent[], meta: EventMeta): Promise<number[]> {
  const positions: number[] = [];
  for (let start = 0; start < events.length; start += CHUNK) {
    const stored = await appendEvents(tx, events.slice(start, start + CHUNK), meta);
    await applyEvents(tx, stored);
    for (const event of stored) positions.push(event.position);
  }
  return positions;
}
