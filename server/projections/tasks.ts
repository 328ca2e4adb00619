// The tasks projection: one row per task with its definition and current status, which
// follows the task's own events and those of its executions. The
// task_counts table follows it through triggers (sql/0002_projections.sql), so only
// this row has to be right for the counts to be right.
import { sql, type FragmentSqlToken } from 'slonik';
import { DEFAULT_BACKOFF, DEFAULT_RETRY_ON } from '../../shared/schemas/task.js';
import type { ProjectedEvent } from '../events/types.js';
import { eventRecords, streamIds, taskIds } from './batch.js';
import type { Projection } from './projection.js';
import { FINAL_TASK_STATUSES } from '../../shared/schemas/task.js';
import { jsonb } from '../db/jsonb.js';

const TASK_EVENT_STATUS: Record<string, string> = {
  'task.held': 'held',
  'task.blocked': 'blocked',
  'task.unblocked': 'waiting',
  'task.unreleased': 'waiting',
  'task.cancelled': 'cancelled',
};

/** How task.edited sets each editable field from its `after` values (`a`). */
const EDITED_COLUMNS = sql.fragment`
  name = CASE WHEN a ? 'name' THEN a->>'name' ELSE t.name END,
  command = CASE WHEN a ? 'command' THEN a->>'command' ELSE t.command END,
  shell = CASE WHEN a ? 'shell' THEN a->>'shell' ELSE t.shell END,
  container = CASE WHEN a ? 'container' THEN a->>'container' ELSE t.container END,
  container_options = CASE WHEN a ? 'container_options' THEN a->'container_options' ELSE t.container_options END,
  inputs = CASE WHEN a ? 'inputs' THEN a->'inputs' ELSE t.inputs END,
  resources = CASE WHEN a ? 'resources' THEN a->'resources' ELSE t.resources END,
  output = CASE WHEN a ? 'output' THEN a->>'output' ELSE t.output END,
  env = CASE WHEN a ? 'env' THEN a->'env' ELSE t.env END,
  priority = CASE WHEN a ? 'priority' THEN (a->>'priority')::int ELSE t.priority END,
  tag = CASE WHEN a ? 'tag' THEN a->>'tag' ELSE t.tag END,
  requirements = CASE WHEN a ? 'requirements' THEN a->'requirements' ELSE t.requirements END,
  timeouts = CASE WHEN a ? 'timeouts' THEN a->'timeouts' ELSE t.timeouts END,
  max_retries = CASE WHEN a ? 'max_retries' THEN (a->>'max_retries')::int ELSE t.max_retries END,
  retry_on = CASE WHEN a ? 'retry_on' THEN a->'retry_on' ELSE t.retry_on END,
  backoff = CASE WHEN a ? 'backoff' THEN a->'backoff' ELSE t.backoff END`;

export const tasksProjection: Projection = {
  name: 'tasks',
  tables: ['tasks', 'task_counts'],
  statements(type: string, events: ProjectedEvent[]): FragmentSqlToken[] {
    switch (type) {
      case 'task.submitted':
        return [sql.fragment`
          INSERT INTO tasks (id, workflow_id, step_id, name, command, shell, container, container_options, inputs,
                             resources, output, tag, priority, depends_on, max_retries, timeouts, env, requirements,
                             key, status, paused, accept_failure, attempts, execution_id, submitted_at, submitted_by,
                             updated_at, version, retry_on, backoff, memory_curve, parameters)
          SELECT e.stream_id, (e.data->>'workflow_id')::bigint, (e.data->>'step_id')::bigint, e.data->>'name',
                 e.data->>'command', e.data->>'shell', e.data->>'container', e.data->'container_options',
                 e.data->'inputs', e.data->'resources', e.data->>'output', e.data->>'tag',
                 (e.data->>'priority')::int,
                 ARRAY(SELECT jsonb_array_elements_text(e.data->'depends_on'))::bigint[],
                 (e.data->>'max_retries')::int, e.data->'timeouts', e.data->'env', e.data->'requirements',
                 e.data->>'key', e.data->>'status',
                 task_paused((e.data->>'workflow_id')::bigint, (e.data->>'step_id')::bigint, e.data->>'tag'),
                 coalesce((e.data->>'accept_failure')::boolean, false), 0, NULL, e.created_at, e.actor, e.created_at,
                 e.version,
                 coalesce(e.data->'retry_on', ${jsonb(DEFAULT_RETRY_ON)}), coalesce(e.data->'backoff', ${jsonb(DEFAULT_BACKOFF)}),
                 CASE WHEN jsonb_typeof(e.data->'memory_curve') = 'array'
                      THEN ARRAY(SELECT jsonb_array_elements_text(e.data->'memory_curve'))::int[] END,
                 e.data->'parameters'
          FROM ${eventRecords(events)}`];
      case 'task.released':
        // A task held while it backed off after a failure is released by its user to run now (the
        // user's release names the status it goes to); a release by dependencies keeps its backoff.
        return [sql.fragment`
          UPDATE tasks t SET status = coalesce(e.data->>'status', 'pending'),
                             retry_at = CASE WHEN e.data ? 'status' THEN NULL ELSE t.retry_at END, updated_at = e.created_at, version = e.version
          FROM ${eventRecords(events)} WHERE t.id = e.stream_id AND t.id = ANY(${streamIds(events)})`];
      case 'task.relaunched':
        return [sql.fragment`
          UPDATE tasks t SET status = e.data->>'status', retry_base = (e.data->>'retry_base')::int, retry_at = NULL,
                             paused = (e.data->>'paused')::boolean, updated_at = e.created_at, version = e.version
          FROM ${eventRecords(events)} WHERE t.id = e.stream_id AND t.id = ANY(${streamIds(events)})`];
      case 'task.edited':
        return [sql.fragment`
          UPDATE tasks t SET ${EDITED_COLUMNS}, paused = (e.data->>'paused')::boolean, updated_at = e.created_at,
                             version = e.version
          FROM ${eventRecords(events)}, LATERAL (SELECT e.data->'after' AS a) edit
          WHERE t.id = e.stream_id AND t.id = ANY(${streamIds(events)})`];
      case 'task.held':
      case 'task.blocked':
      case 'task.unblocked':
      case 'task.unreleased':
      case 'task.cancelled':
        return [sql.fragment`
          UPDATE tasks t SET status = ${TASK_EVENT_STATUS[type]}, updated_at = e.created_at, version = e.version,
                             paused = ${type === 'task.cancelled' ? sql.fragment`false` : sql.fragment`t.paused`}
          FROM ${eventRecords(events)} WHERE t.id = e.stream_id AND t.id = ANY(${streamIds(events)})`];
      case 'execution.assigned':
        return [sql.fragment`
          UPDATE tasks t SET status = 'assigned', attempts = (e.data->>'attempt')::int, execution_id = e.stream_id,
                             retry_at = NULL, updated_at = e.created_at
          FROM ${eventRecords(events)} WHERE t.id = (e.data->>'task_id')::bigint AND t.id = ANY(${taskIds(events)})`];
      case 'execution.phase':
        return [sql.fragment`
          UPDATE tasks t SET status = e.data->>'phase', updated_at = e.created_at
          FROM ${eventRecords(events)} WHERE t.id = (e.data->>'task_id')::bigint AND t.id = ANY(${taskIds(events)})`];
      case 'execution.finished':
      case 'execution.lost':
      case 'execution.cancelled':
        // A task back to pending may wait (retry_at) and, after `oom`, need more memory.
        return [sql.fragment`
          UPDATE tasks t SET status = e.data->>'task_status', updated_at = e.created_at,
            retry_at = (e.data->>'retry_at')::timestamptz,
            -- A task that ended is out of every pause: its flag no longer depends on when a pause ran.
            paused = t.paused AND e.data->>'task_status' <> ALL(${sql.array([...FINAL_TASK_STATUSES], 'text')}),
            requirements = CASE WHEN jsonb_typeof(e.data->'memory_mb') = 'number'
                                THEN jsonb_set(t.requirements, '{memory_mb}', e.data->'memory_mb') ELSE t.requirements END
          FROM ${eventRecords(events)} WHERE t.id = (e.data->>'task_id')::bigint AND t.id = ANY(${taskIds(events)})`];
    }
    return [];
  },
};
