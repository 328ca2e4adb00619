// The write path of every command: append the events and apply them to the projections
// in the caller's transaction, so the API always reads its own writes. The first run of
// events is applied in the statement that appends them all, when its projections' statements
// may share one (applyEvents.ts): a round trip less for every command. A large batch (a
// bulk submit of 10,000 tasks) goes in slices of CHUNK events, each appended and applied
// before the next is built: the same statements per event, but the server holds one
// slice's parameters and returned rows at a time instead of the whole batch's (a
// 10,000-task submit peaked near 400 MiB of resident memory).
import type { EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { applyPlans, joinable, plansOf } from '../projections/applyEvents.js';
import { appendEvents, checkEvents } from './appendEvents.js';
import type { NewEvent } from './types.js';

const CHUNK = 1000;

/**
 * Returns the events' positions in the log, in order. `tx` is a transaction: the events'
 * time is its start (now()), which the projections of the first run read in the insert's
 * statement and those of the others in theirs.
 */
export async function recordEvents(tx: Db, events: NewEvent[], meta: EventMeta): Promise<number[]> {
  const positions: number[] = [];
  for (let start = 0; start < events.length; start += CHUNK) {
    const checked = checkEvents(events.slice(start, start + CHUNK), meta);
    const plans = plansOf(checked);
    // The first run's statements go in the insert's statement when they may share one: a
    // submit's tasks, an exchange's claims, the first results of its reports.
    const first = plans.length > 0 && joinable(plans[0]!) ? plans.shift()!.statements : [];
    positions.push(...await appendEvents(tx, checked, meta, first));
    await applyPlans(tx, plans);
  }
  return positions;
}
