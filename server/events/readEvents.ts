// Reads the log in commit-safe order. Positions come from a sequence, so a transaction
// can commit after another one that took a larger position; a reader that went by
// position alone would skip the late event for ever. Readers here order by
// (xid, position) and only read events of transactions older than the oldest one still
// running (pg_snapshot_xmin): those can no longer change, and any later commit has a
// larger xid than every event already read. The cursor is the pair `<xid>-<position>`.
// The price: a long-running transaction holds readers back until it ends (see
// docs/architecture.md), which is why transactions here are kept short.
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type FragmentSqlToken } from 'slonik';
import type { Db } from '../db/pool.js';
import { STORED_EVENT_COLUMNS } from './appendEvents.js';
import { parseCursor, type StoredEvent } from './types.js';

/** How soon to look again for events held back by an open older transaction. */
export const HELD_BACK_RETRY_MS = 50;

export interface EventFilter {
  stream_type?: string[];
  stream_id?: number;
  /** Exact types, or `prefix.*` wildcards. */
  type?: string[];
  /** One task's history: its own stream and those of its executions. */
  task_id?: number;
  /** Who did it (meta.actor); the audit view's filter, not the stream's. */
  actor?: string;
}

function filterSql(filter: EventFilter): FragmentSqlToken[] {
  const where: FragmentSqlToken[] = [];
  if (filter.task_id !== undefined) {
    // ANY(ARRAY(…)) rather than IN (SELECT …): the ids become an index condition on the
    // stream, where IN is a filter over every execution event (or the whole log).
    where.push(sql.fragment`((stream_type = 'task' AND stream_id = ${filter.task_id})
      OR (stream_type = 'execution' AND stream_id = ANY(ARRAY(SELECT id FROM executions WHERE task_id = ${filter.task_id}))))`);
  }
  if (filter.stream_type?.length) where.push(sql.fragment`stream_type = ANY(${sql.array(filter.stream_type, 'text')})`);
  if (filter.stream_id !== undefined) where.push(sql.fragment`stream_id = ${filter.stream_id}`);
  if (filter.actor !== undefined) where.push(sql.fragment`meta->>'actor' = ${filter.actor}`);
  if (filter.type?.length) {
    const exact = filter.type.filter((t) => !t.endsWith('.*'));
    const prefixes = filter.type.filter((t) => t.endsWith('.*')).map((t) => t.slice(0, -1));
    where.push(sql.fragment`(type = ANY(${sql.array(exact, 'text')}) OR type LIKE ANY(${sql.array(prefixes.map((p) => p + '%'), 'text')}))`);
  }
  return where;
}

/** The filters of the SSE stream, applied in process (a task's history is read in SQL only). */
export function matchesFilter(event: Pick<StoredEvent, 'stream_type' | 'stream_id' | 'type'>, filter: Omit<EventFilter, 'task_id'>): boolean {
  if (filter.stream_type?.length && !filter.stream_type.includes(event.stream_type)) return false;
  if (filter.stream_id !== undefined && event.stream_id !== filter.stream_id) return false;
  if (filter.type?.length) {
    return filter.type.some((t) => (t.endsWith('.*') ? event.type.startsWith(t.slice(0, -1)) : event.type === t));
  }
  return true;
}

/** Events committed by transactions older than any still running: safe to hand out. */
const READABLE = sql.fragment`xid < pg_snapshot_xmin(pg_current_snapshot())`;
/**
 * Log order. It names the table's columns: the select list renders xid as text under the
 * same name, and ordering by that text would put xid 1000 before 977.
 */
const LOG_ORDER = sql.fragment`ORDER BY events.xid, events.position`;

/**
 * The newest events before `cursor` (exclusive; null: the end of what is readable) that are
 * safe to hand out, newest first: the audit view's pages, read backwards. The log order's
 * index serves it in reverse, so the first page costs the same at any log size.
 */
export async function readEventsBefore(db: Db, cursor: string | null, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
  const where = [READABLE, ...filterSql(filter)];
  if (cursor) {
    const { xid, position } = parseCursor(cursor);
    where.push(sql.fragment`(xid, position) < (${xid}::xid8, ${position})`);
  }
  const rows = await db.any(sql.unsafe`
    SELECT ${STORED_EVENT_COLUMNS} FROM events
    WHERE ${sql.join(where, sql.fragment` AND `)}
    ORDER BY events.xid DESC, events.position DESC
    LIMIT ${limit}`);
  return rows as unknown as StoredEvent[];
}

/** Events after `cursor` (exclusive) that are safe to hand out, oldest first. */
export async function readEventsAfter(db: Db, cursor: string | null, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
  const { xid, position } = parseCursor(cursor ?? '0-0');
  const where = [
    sql.fragment`(xid, position) > (${xid}::xid8, ${position})`,
    READABLE,
    ...filterSql(filter),
  ];
  const rows = await db.any(sql.unsafe`
    SELECT ${STORED_EVENT_COLUMNS} FROM events
    WHERE ${sql.join(where, sql.fragment` AND `)}
    ${LOG_ORDER}
    LIMIT ${limit}`);
  return rows as unknown as StoredEvent[];
}

/**
 * readEventsAfter for several cursors in one statement (one snapshot, so readers that get
 * to the end of what is readable stop at the same event), by cursor. What the log tailer
 * reads for all its SSE clients at once.
 */
export async function readEventsAfterEach(db: Db, cursors: string[], limit: number): Promise<Map<string, StoredEvent[]>> {
  const rows = await db.any(sql.unsafe`
    SELECT c.cursor, e.* FROM unnest(${sql.array(cursors, 'text')}) AS c(cursor)
    CROSS JOIN LATERAL (
      SELECT ${STORED_EVENT_COLUMNS} FROM events
      WHERE (xid, position) > (split_part(c.cursor, '-', 1)::xid8, split_part(c.cursor, '-', 2)::bigint)
        AND ${READABLE}
      ${LOG_ORDER}
      LIMIT ${limit}) e
    ORDER BY c.cursor, e.xid::xid8, e.position`);
  const batches = new Map<string, StoredEvent[]>(cursors.map((c) => [c, []]));
  for (const { cursor, ...event } of rows as unknown as (StoredEvent & { cursor: string })[]) batches.get(cursor)!.push(event);
  return batches;
}

/** Whether events matching `filter` exist after `cursor` that readEventsAfter holds back for now. */
export async function hasHeldBackEvents(db: Db, cursor: string | null, filter: EventFilter = {}): Promise<boolean> {
  const { xid, position } = parseCursor(cursor ?? '0-0');
  const where = [
    sql.fragment`(xid, position) > (${xid}::xid8, ${position})`,
    sql.fragment`xid >= pg_snapshot_xmin(pg_current_snapshot())`,
    ...filterSql(filter),
  ];
  return db.exists(sql.unsafe`SELECT 1 FROM events WHERE ${sql.join(where, sql.fragment` AND `)}`);
}

export interface LogRead {
  events: StoredEvent[];
  /** Committed events after the cursor were held back when the read began: look again soon. */
  heldBack: boolean;
}

/**
 * readEventsAfter, and whether committed events after `cursor` were held back. The check
 * comes first: the horizon only moves forward, so when nothing was held back then, the
 * read that follows holds every event committed before it. Checked after the read, an
 * event held back at the read may have passed the horizon by the time of the check, and
 * the reader would believe it had everything.
 */
export async function readEventsWithHeldBack(db: Db, cursor: string | null, filter: EventFilter, limit: number): Promise<LogRead> {
  const heldBack = await hasHeldBackEvents(db, cursor, filter);
  return { events: await readEventsAfter(db, cursor, filter, limit), heldBack };
}

/**
 * For a reader that asks once rather than tails: while events matching the filter have
 * committed but are held back by an older transaction still running, looks again, up to
 * `settleMs`. A history read just after a change then holds that change, unless a
 * transaction stays open longer than that.
 */
export async function readSettledEventsAfter(db: Db, cursor: string | null, filter: EventFilter, limit: number, settleMs: number): Promise<StoredEvent[]> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const { events, heldBack } = await readEventsWithHeldBack(db, cursor, filter, limit);
    if (!heldBack || events.length === limit || Date.now() >= deadline) return events;
    await sleep(HELD_BACK_RETRY_MS);
  }
}

/** The whole log by position, in batches: what a rebuild replays. */
export async function readEventsByPosition(db: Db, afterPosition: number, limit: number): Promise<StoredEvent[]> {
  const rows = await db.any(sql.unsafe`
    SELECT ${STORED_EVENT_COLUMNS} FROM events WHERE position > ${afterPosition} ORDER BY position LIMIT ${limit}`);
  return rows as unknown as StoredEvent[];
}
