// Reads the log in commit-safe order. Positions come from a sequence, so a transaction
// can commit after another one that took a larger position; a reader that went by
// position alone would skip the late event for ever. Readers here order by
// (xid, position) and only read events of transactions older than the oldest one still
// running (pg_snapshot_xmin): those can no longer change, and any later commit has a
// larger xid than every event already read. The cursor is the pair `<xid>-<position>`.
// The price: a long-running transaction holds readers back until it ends (see
// docs/architecture.md), which is why transactions here are kept short.
import { sql, type FragmentSqlToken } from 'slonik';
import type { Db } from '../db/pool.js';
import { STORED_EVENT_COLUMNS } from './appendEvents.js';
import { parseCursor, type StoredEvent } from './types.js';

export interface EventFilter {
  stream_type?: string[];
  stream_id?: number;
  /** Exact types, or `prefix.*` wildcards. */
  type?: string[];
}

function filterSql(filter: EventFilter): FragmentSqlToken[] {
  const where: FragmentSqlToken[] = [];
  if (filter.stream_type?.length) where.push(sql.fragment`stream_type = ANY(${sql.array(filter.stream_type, 'text')})`);
  if (filter.stream_id !== undefined) where.push(sql.fragment`stream_id = ${filter.stream_id}`);
  if (filter.type?.length) {
    const exact = filter.type.filter((t) => !t.endsWith('.*'));
    const prefixes = filter.type.filter((t) => t.endsWith('.*')).map((t) => t.slice(0, -1));
    where.push(sql.fragment`(type = ANY(${sql.array(exact, 'text')}) OR type LIKE ANY(${sql.array(prefixes.map((p) => p + '%'), 'text')}))`);
  }
  return where;
}

export function matchesFilter(event: Pick<StoredEvent, 'stream_type' | 'stream_id' | 'type'>, filter: EventFilter): boolean {
  if (filter.stream_type?.length && !filter.stream_type.includes(event.stream_type)) return false;
  if (filter.stream_id !== undefined && event.stream_id !== filter.stream_id) return false;
  if (filter.type?.length) {
    return filter.type.some((t) => (t.endsWith('.*') ? event.type.startsWith(t.slice(0, -1)) : event.type === t));
  }
  return true;
}

/**
 * Events after `cursor` (exclusive) that are safe to hand out, oldest first. The ORDER BY
 * names the table's columns: the select list renders xid as text under the same name, and
 * ordering by that text would put xid 1000 before 977.
 */
export async function readEventsAfter(db: Db, cursor: string | null, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
  const { xid, position } = parseCursor(cursor ?? '0-0');
  const where = [
    sql.fragment`(xid, position) > (${xid}::xid8, ${position})`,
    sql.fragment`xid < pg_snapshot_xmin(pg_current_snapshot())`,
    ...filterSql(filter),
  ];
  const rows = await db.any(sql.unsafe`
    SELECT ${STORED_EVENT_COLUMNS} FROM events
    WHERE ${sql.join(where, sql.fragment` AND `)}
    ORDER BY events.xid, events.position
    LIMIT ${limit}`);
  return rows as unknown as StoredEvent[];
}

/** Whether events exist after `cursor` that readEventsAfter holds back for now. */
export async function hasHeldBackEvents(db: Db, cursor: string | null): Promise<boolean> {
  const { xid, position } = parseCursor(cursor ?? '0-0');
  return db.exists(sql.unsafe`
    SELECT 1 FROM events
    WHERE (xid, position) > (${xid}::xid8, ${position})
      AND xid >= pg_snapshot_xmin(pg_current_snapshot())`);
}

/** A task's history: its own events and those of its executions, in log order. */
export async function readTaskHistory(db: Db, taskId: number): Promise<StoredEvent[]> {
  const rows = await db.any(sql.unsafe`
    SELECT ${STORED_EVENT_COLUMNS} FROM events
    WHERE (stream_type = 'task' AND stream_id = ${taskId})
       OR (stream_type = 'execution' AND stream_id IN (SELECT id FROM executions WHERE task_id = ${taskId}))
    ORDER BY position`);
  return rows as unknown as StoredEvent[];
}

/** The whole log by position, in batches: what a rebuild replays. */
export async function readEventsByPosition(db: Db, afterPosition: number, limit: number): Promise<StoredEvent[]> {
  const rows = await db.any(sql.unsafe`
    SELECT ${STORED_EVENT_COLUMNS} FROM events WHERE position > ${afterPosition} ORDER BY position LIMIT ${limit}`);
  return rows as unknown as StoredEvent[];
}
