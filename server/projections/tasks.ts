// The tasks projection: one row per task with its definition and current status, which
// follows the task's own events and those of its executions. The
// task_counts table follows it through triggers (sql/0002_projections.sql), so only
// this row has to be right for the counts to be right.
import { sql } from 'slonik';
import type { Db } from '../db/pool.js';
import type { StoredEvent } from '../events/types.js';
import { eventRecords, streamIds, taskIds } from './batch.js';
import type { Projection } from './projection.js';

const TASK_EVENT_STATUS: Record<string, string> = {
  'task.released': 'pending',
  'task.blocked': 'blocked',
  'task.cancelled': 'cancelled',
};

export const tasksProjection: Projection = {
  name: 'tasks',
  tables: ['tasks', 'task_counts'],
  async apply(db: Db, type: string, events: StoredEvent[]) {
    switch (type) {
      case 'task.submitted':
        await db.query(sql.unsafe`
          INSERT INTO tasks (id, workflow_id, step_id, name, command, shell, container, container_options, inputs,
                             resources, output, tag, priority, depends_on, max_retries, timeouts, env, requirements,
                             key, status, attempts, execution_id, submitted_at, submitted_by, updated_at, version,
                             parameters)
          SELECT e.stream_id, (e.data->>'workflow_id')::bigint, (e.data->>'step_id')::bigint, e.data->>'name',
                 e.data->>'command', e.data->>'shell', e.data->>'container', e.data->'container_options',
                 e.data->'inputs', e.data->'resources', e.data->>'output', e.data->>'tag',
                 (e.data->>'priority')::int,
                 ARRAY(SELECT jsonb_array_elements_text(e.data->'depends_on'))::bigint[],
                 (e.data->>'max_retries')::int, e.data->'timeouts', e.data->'env', e.data->'requirements',
                 e.data->>'key', e.data->>'status', 0, NULL, e.created_at, e.meta->>'actor', e.created_at, e.version,
                 e.data->'parameters'
          FROM ${eventRecords(events)}`);
        return;
      case 'task.released':
      case 'task.blocked':
      case 'task.cancelled':
        await db.query(sql.unsafe`
          UPDATE tasks t SET status = ${TASK_EVENT_STATUS[type]}, updated_at = e.created_at, version = e.version
          FROM ${eventRecords(events)} WHERE t.id = e.stream_id AND t.id = ANY(${streamIds(events)})`);
        return;
      case 'execution.assigned':
        await db.query(sql.unsafe`
          UPDATE tasks t SET status = 'assigned', attempts = (e.data->>'attempt')::int, execution_id = e.stream_id,
                             updated_at = e.created_at
          FROM ${eventRecords(events)} WHERE t.id = (e.data->>'task_id')::bigint AND t.id = ANY(${taskIds(events)})`);
        return;
      case 'execution.phase':
        await db.query(sql.unsafe`
          UPDATE tasks t SET status = e.data->>'phase', updated_at = e.created_at
          FROM ${eventRecords(events)} WHERE t.id = (e.data->>'task_id')::bigint AND t.id = ANY(${taskIds(events)})`);
        return;
      case 'execution.finished':
      case 'execution.lost':
        await db.query(sql.unsafe`
          UPDATE tasks t SET status = e.data->>'task_status', updated_at = e.created_at
          FROM ${eventRecords(events)} WHERE t.id = (e.data->>'task_id')::bigint AND t.id = ANY(${taskIds(events)})`);
        return;
    }
  },
};
