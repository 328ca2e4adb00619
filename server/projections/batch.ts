// Helpers for set-based apply functions: a run of events is passed to PostgreSQL as one
// jsonb array and unpacked with jsonb_to_recordset, so applying 10,000 events of one
// type is one statement.
import { sql } from 'slonik';
import type { StoredEvent } from '../events/types.js';

export function eventRecords(events: StoredEvent[]) {
  return sql.fragment`jsonb_to_recordset(${sql.jsonb(
    events.map((e) => ({ stream_id: e.stream_id, version: e.version, data: e.data, meta: e.meta, created_at: e.created_at })) as any,
  )}) AS e(stream_id bigint, version int, data jsonb, meta jsonb, created_at timestamptz)`;
}
