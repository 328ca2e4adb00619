// Appends events to the log in one statement, whatever their number (a bulk submit of
// 10,000 tasks is one INSERT), with the statements of their first projections when they may
// share it (recordEvents.ts). Only events checked against the catalogue are appended
// (checkEvents, whose results alone the insert takes), so a programming error can never
// write a malformed event. The per-stream version is unique
// with the stream: two writers racing on one stream make one of them fail, which is the
// optimistic concurrency the projections rely on. An event carries the batch's meta unless
// it has its own (a transaction that serves the exchanges of many workers).
import { sql, UniqueIntegrityConstraintViolationError, type FragmentSqlToken } from 'slonik';
import { z } from 'zod';
import { EVENT_CATALOGUE, type EventMeta } from '../../shared/events.js';
import type { Db } from '../db/pool.js';
import { ctes } from '../db/ctes.js';
import type { NewEvent, ProjectedEvent } from './types.js';
import { jsonb } from '../db/jsonb.js';

/**
 * Another transaction appended to one of these streams first. It carries SQLSTATE 40001
 * (serialization failure), so slonik runs the whole command again on fresh state, as it
 * does for deadlocks; when the retries run out, the API answers 503.
 */
export class StreamVersionConflict extends Error {
  readonly code = '40001';
  constructor() {
    super('a concurrent change to the same stream won; retry');
  }
}

export const STORED_EVENT_COLUMNS = sql.fragment`
  position, xid::text AS xid, stream_type, stream_id, version, type, data, meta,
  to_json(created_at) #>> '{}' AS created_at`;

const Appended = z.object({ position: z.number(), stream_type: z.string(), stream_id: z.number(), version: z.number() });

declare const checked: unique symbol;
/** An event checked against the catalogue (checkEvents): the only kind appendEvents takes. */
export type CheckedEvent = ProjectedEvent & { readonly [checked]: true };

/** The events checked against the catalogue, as the projections read them: with their own meta or the batch's. */
export function checkEvents(events: NewEvent[], meta: EventMeta): CheckedEvent[] {
  return events.map((event) => {
    const entry = EVENT_CATALOGUE[event.type];
    if (!entry) throw new Error(`unknown event type ${event.type}`);
    const parsed = entry.data.safeParse(event.data);
    if (!parsed.success) {
      throw new Error(`event ${event.type} does not match the catalogue: ${parsed.error.message}`);
    }
    return { stream_type: entry.stream, stream_id: event.streamId, version: event.version, type: event.type, data: parsed.data as Record<string, any>, meta: event.meta ?? meta } as CheckedEvent;
  });
}

/**
 * Appends checked events (checkEvents), and runs `alongside` in the same statement, as its
 * data-modifying CTEs: the statements of their first projections (applyEvents.ts, `joinable`).
 * Returns the events' positions in the log, in order.
 */
export async function appendEvents(db: Db, events: CheckedEvent[], meta: EventMeta, alongside: FragmentSqlToken[] = []): Promise<number[]> {
  if (events.length === 0) return [];
  // Only an event's own meta is sent; the others take the batch's.
  const rows = events.map((e, i) => ({ i, stream_type: e.stream_type, stream_id: e.stream_id, version: e.version, type: e.type, data: e.data, meta: e.meta === meta ? undefined : e.meta }));
  // Only each event's position comes back, with what says which event it is: its data and
  // meta are the values just sent (reading them back as jsonb made, parsed and collected a
  // second copy of every event), and its time is the transaction's, which the projections read as now().
  const given = await db.any(sql.type(Appended)`
    WITH ev AS (
      INSERT INTO events (stream_type, stream_id, version, type, data, meta)
      SELECT e.stream_type, e.stream_id, e.version, e.type, e.data, coalesce(e.meta, ${jsonb(meta as any)})
      FROM jsonb_to_recordset(${jsonb(rows as any)}) AS e(i int, stream_type text, stream_id bigint, version int, type text, data jsonb, meta jsonb)
      ORDER BY e.i
      RETURNING position, stream_type, stream_id, version
    )${alongside.length > 0 ? sql.fragment`, ${ctes(alongside)}` : sql.fragment``}
    SELECT * FROM ev`).catch((error) => {
    if (error instanceof UniqueIntegrityConstraintViolationError && error.constraint === 'events_stream_version') {
      throw new StreamVersionConflict();
    }
    throw error;
  });
  // The identity is drawn row by row in the SELECT's order, so the n-th position is the n-th
  // event's; each row's stream and version say so, or the command fails and its transaction
  // rolls back (the first projections ran in the same statement).
  return [...given].sort((a, b) => a.position - b.position).map((g, index) => {
    const event = events[index]!;
    if (g.stream_type !== event.stream_type || g.stream_id !== event.stream_id || g.version !== event.version) {
      throw new Error(`event ${index} came back as ${g.stream_type} ${g.stream_id}@${g.version}, not ${event.stream_type} ${event.stream_id}@${event.version}`);
    }
    return g.position;
  });
}
