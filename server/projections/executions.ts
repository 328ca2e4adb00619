// The executions projection: one row per attempt, with its phase times and outcome.
import { sql, type FragmentSqlToken } from 'slonik';
import type { ProjectedEvent } from '../events/types.js';
import { eventRecords, streamIds } from './batch.js';
import type { Projection } from './projection.js';

/** The class of a failure reported before failure classes existed (sql/0015_retries.sql backfills the same). */
const inferredClass = sql.fragment`CASE e.data->>'status' WHEN 'failed' THEN 'exit' WHEN 'refused' THEN 'refused' WHEN 'killed' THEN 'killed' END`;

/**
 * An execution that ended is suspended no more, however it ended (killed while suspended,
 * lost, cancelled before it started): `suspended` is an order to its worker for as long as
 * it runs, and an order for an execution that is over would list it as suspended forever.
 */
const notSuspended = sql.fragment`suspended = false, suspended_at = NULL`;

export const executionsProjection: Projection = {
  name: 'executions',
  tables: ['executions'],
  statements(type: string, events: ProjectedEvent[]): FragmentSqlToken[] {
    switch (type) {
      case 'execution.assigned':
        return [sql.fragment`
          INSERT INTO executions (id, task_id, attempt, worker_id, status, assigned_at, version)
          SELECT e.stream_id, (e.data->>'task_id')::bigint, (e.data->>'attempt')::int, (e.data->>'worker_id')::bigint,
                 'assigned', e.created_at, e.version
          FROM ${eventRecords(events)}`];
      case 'execution.phase':
        return [sql.fragment`
          UPDATE executions x SET status = e.data->>'phase', version = e.version,
            downloading_at = CASE WHEN e.data->>'phase' = 'downloading' THEN e.created_at ELSE x.downloading_at END,
            ready_at       = CASE WHEN e.data->>'phase' = 'ready'       THEN e.created_at ELSE x.ready_at END,
            running_at     = CASE WHEN e.data->>'phase' = 'running'     THEN e.created_at ELSE x.running_at END,
            uploading_at   = CASE WHEN e.data->>'phase' = 'uploading'   THEN e.created_at ELSE x.uploading_at END
          FROM ${eventRecords(events)} WHERE x.id = e.stream_id AND x.id = ANY(${streamIds(events)})`];
      case 'execution.finished':
        return [sql.fragment`
          UPDATE executions x SET status = e.data->>'status', finished_at = e.created_at, version = e.version, ${notSuspended},
            exit_code = (e.data->>'exit_code')::int, peak_memory_bytes = (e.data->>'peak_memory_bytes')::bigint,
            error = e.data->>'error', cpu_seconds = (e.data->>'cpu_seconds')::float8,
            failure_class = coalesce(e.data->>'failure_class', ${inferredClass})
          FROM ${eventRecords(events)} WHERE x.id = e.stream_id AND x.id = ANY(${streamIds(events)})`];
      case 'execution.lost':
        return [sql.fragment`
          UPDATE executions x SET status = 'lost', finished_at = e.created_at, error = e.data->>'reason', version = e.version,
            failure_class = 'lost', ${notSuspended}
          FROM ${eventRecords(events)} WHERE x.id = e.stream_id AND x.id = ANY(${streamIds(events)})`];
      case 'execution.cancelled':
        return [sql.fragment`
          UPDATE executions x SET status = 'cancelled', finished_at = e.created_at, error = e.data->>'reason', version = e.version,
            ${notSuspended}
          FROM ${eventRecords(events)} WHERE x.id = e.stream_id AND x.id = ANY(${streamIds(events)})`];
      case 'execution.kill_requested':
        return [sql.fragment`
          UPDATE executions x SET kill_requested_at = e.created_at, kill_grace_seconds = (e.data->>'grace_seconds')::int,
            kill_requeue = coalesce((e.data->>'requeue')::boolean, false), version = e.version
          FROM ${eventRecords(events)} WHERE x.id = e.stream_id AND x.id = ANY(${streamIds(events)})`];
      case 'execution.suspend_requested':
      case 'execution.continue_requested':
        return [sql.fragment`
          UPDATE executions x SET suspended = ${type === 'execution.suspend_requested'},
            suspended_at = CASE WHEN ${type === 'execution.suspend_requested'} THEN e.created_at END, version = e.version
          FROM ${eventRecords(events)} WHERE x.id = e.stream_id AND x.id = ANY(${streamIds(events)})`];
    }
    return [];
  },
};
