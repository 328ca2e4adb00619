// Helpers for the projections' set-based statements: a run of events is passed to
// PostgreSQL as one jsonb array and unpacked with jsonb_to_recordset, so applying 10,000
// events of one type takes one statement per projection. The planner cannot see how many rows a jsonb_to_recordset gives
// (it guesses 100), and with a guess that large it may join by reading the whole table:
// an UPDATE also says which ids it touches (`t.id = ANY(…)`), which it plans as index look-ups.
import { sql } from 'slonik';
import type { ProjectedEvent } from '../events/types.js';
import { jsonb } from '../db/jsonb.js';

// A run of events is applied by each projection it concerns (an execution's end by the
// executions' and the tasks'): its records are made once and serve them all.
const built = new WeakMap<ProjectedEvent[], ReturnType<typeof build>>();

// An event written in the same statement has no time yet: it is the transaction's (now()).
// Of the meta, the projections keep only who acted: the rest of it stays in the log.
function build(events: ProjectedEvent[]) {
  return sql.fragment`(
    SELECT r.stream_id, r.version, r.data, r.actor, coalesce(r.created_at, now()) AS created_at
    FROM jsonb_to_recordset(${jsonb(
      events.map((e) => ({ stream_id: e.stream_id, version: e.version, data: e.data, actor: e.meta.actor ?? null, created_at: e.created_at })) as any,
    )}) AS r(stream_id bigint, version int, data jsonb, actor text, created_at timestamptz)) AS e`;
}

export function eventRecords(events: ProjectedEvent[]) {
  let records = built.get(events);
  if (!records) built.set(events, (records = build(events)));
  return records;
}

/** The ids of the streams of a run, for an UPDATE's `id = ANY(…)`. */
export function streamIds(events: ProjectedEvent[]) {
  return sql.array(events.map((e) => e.stream_id), 'int8');
}

/** The task ids an execution's events name, for an UPDATE of tasks. */
export function taskIds(events: ProjectedEvent[]) {
  return sql.array(events.map((e) => Number(e.data.task_id)), 'int8');
}
