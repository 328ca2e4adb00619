// The schedules projection: one row per schedule not deleted (schedules) and one per run,
// fired or skipped (schedule_runs). Each event carries the next due time it leaves, so the
// rows rebuilt from the log are the rows written inline. A run is numbered by its place among
// its schedule's runs, the one after the last (one look-up of the key), not by its event's
// version, which edits and pauses also take: the schedule's row is locked while a run is
// recorded, and a run of events never holds two of one stream (applyEvents), so each
// statement numbers one run per schedule.
import { sql, type FragmentSqlToken } from 'slonik';
import type { ProjectedEvent } from '../events/types.js';
import { eventRecords, streamIds } from './batch.js';
import type { Projection } from './projection.js';

/** Moves the row's version and next due time, which every schedule event does. */
const touch = sql.fragment`updated_at = e.created_at, version = e.version, next_due_at = (e.data->>'next_due_at')::timestamptz`;

export const schedulesProjection: Projection = {
  name: 'schedules',
  tables: ['schedules', 'schedule_runs'],
  statements(type: string, events: ProjectedEvent[]): FragmentSqlToken[] {
    // Every run of events passes by every projection: the records are built for this one's only.
    if (!type.startsWith('schedule.')) return [];
    const rows = eventRecords(events);
    const ids = streamIds(events);
    switch (type) {
      case 'schedule.created':
        return [sql.fragment`
          INSERT INTO schedules (id, name, cron, timezone, context, submit, workflow_id, step_id, catch_up, overlap, enabled,
                                 next_due_at, created_at, created_by, updated_at, version)
          SELECT e.stream_id, e.data->>'name', e.data->>'cron', e.data->>'timezone', e.data->'context', e.data->'submit',
                 (e.data->>'workflow_id')::bigint, (e.data->>'step_id')::bigint, e.data->>'catch_up', e.data->>'overlap',
                 (e.data->>'enabled')::boolean, (e.data->>'next_due_at')::timestamptz, e.created_at, e.actor, e.created_at, e.version
          FROM ${rows}`];
      case 'schedule.edited':
        return [sql.fragment`
          UPDATE schedules s SET ${touch},
            name = coalesce(e.data->'new'->>'name', s.name), cron = coalesce(e.data->'new'->>'cron', s.cron),
            timezone = coalesce(e.data->'new'->>'timezone', s.timezone), context = coalesce(e.data->'new'->'context', s.context),
            submit = coalesce(e.data->'new'->'submit', s.submit),
            workflow_id = CASE WHEN e.data->'new' ? 'workflow_id' THEN (e.data->'new'->>'workflow_id')::bigint ELSE s.workflow_id END,
            step_id = CASE WHEN e.data->'new' ? 'step_id' THEN (e.data->'new'->>'step_id')::bigint ELSE s.step_id END,
            catch_up = coalesce(e.data->'new'->>'catch_up', s.catch_up), overlap = coalesce(e.data->'new'->>'overlap', s.overlap)
          FROM ${rows} WHERE s.id = e.stream_id AND s.id = ANY(${ids})`];
      case 'schedule.enabled':
      case 'schedule.disabled':
        return [sql.fragment`
          UPDATE schedules s SET ${touch}, enabled = ${type === 'schedule.enabled'}, queued_due_at = NULL
          FROM ${rows} WHERE s.id = e.stream_id AND s.id = ANY(${ids})`];
      case 'schedule.deleted':
        return [
          sql.fragment`DELETE FROM schedule_runs WHERE schedule_id = ANY(${ids})`,
          sql.fragment`DELETE FROM schedules WHERE id = ANY(${ids})`,
        ];
      case 'schedule.queued':
        return [sql.fragment`
          UPDATE schedules s SET ${touch}, queued_due_at = (e.data->>'due_at')::timestamptz
          FROM ${rows} WHERE s.id = e.stream_id AND s.id = ANY(${ids})`];
      case 'schedule.fired':
      case 'schedule.skipped': {
        const fired = type === 'schedule.fired';
        // A queued run that fires (or is given up) frees the queue.
        return [sql.fragment`
          UPDATE schedules s SET ${touch},
            queued_due_at = CASE WHEN s.queued_due_at = (e.data->>'due_at')::timestamptz THEN NULL ELSE s.queued_due_at END
          FROM ${rows} WHERE s.id = e.stream_id AND s.id = ANY(${ids})`, sql.fragment`
          INSERT INTO schedule_runs (schedule_id, run, due_at, fired_at, fired_by, context, task_ids, status, reason)
          SELECT e.stream_id, (SELECT coalesce(max(r.run), 0) + 1 FROM schedule_runs r WHERE r.schedule_id = e.stream_id),
                 (e.data->>'due_at')::timestamptz,
                 ${fired ? sql.fragment`(e.data->>'fired_at')::timestamptz` : sql.fragment`NULL`},
                 ${fired ? sql.fragment`e.data->>'by'` : sql.fragment`'clock'`},
                 ${fired ? sql.fragment`e.data->'context'` : sql.fragment`NULL`},
                 ${fired ? sql.fragment`ARRAY(SELECT jsonb_array_elements_text(e.data->'task_ids')::bigint)` : sql.fragment`'{}'::bigint[]`},
                 ${fired ? sql.fragment`'fired'` : sql.fragment`CASE WHEN e.data->>'reason' = 'failed' THEN 'failed' ELSE 'skipped' END`},
                 ${fired ? sql.fragment`NULL` : sql.fragment`concat_ws(': ', e.data->>'reason', e.data->>'detail')`}
          FROM ${rows}`];
      }
    }
    return [];
  },
};
