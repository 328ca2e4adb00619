// Read side of tasks: the filtered, paginated list and one task with its executions.
import { sql, type FragmentSqlToken } from 'slonik';
import type { Task, TaskFilter, TaskListItem } from '../../shared/schemas/task.js';
import type { Execution } from '../../shared/schemas/execution.js';
import type { Db } from '../db/pool.js';
import { readExecutions } from './executions.js';
import { containsPattern, decodeCursor, pageOf } from './pagination.js';

export const TASK_COLUMNS = sql.fragment`
  id, name, command, shell, container, container_options, inputs, resources, output, workflow_id, step_id, tag,
  priority, depends_on, max_retries, retry_on, backoff, timeouts, env, requirements, memory_curve, key, status, paused,
  accept_failure, attempts, execution_id, retry_at, retry_base, submitted_at, submitted_by, updated_at, version, parameters`;

export function taskWhere(filter: TaskFilter): FragmentSqlToken[] {
  const where: FragmentSqlToken[] = [];
  if (filter.ids?.length) where.push(sql.fragment`id = ANY(${sql.array(filter.ids, 'int8')})`);
  if (filter.status?.length) where.push(sql.fragment`status = ANY(${sql.array(filter.status, 'text')})`);
  if (filter.workflow_id !== undefined) where.push(sql.fragment`workflow_id = ${filter.workflow_id}`);
  if (filter.step_id !== undefined) where.push(sql.fragment`step_id = ${filter.step_id}`);
  if (filter.tag !== undefined) where.push(sql.fragment`tag = ${filter.tag}`);
  if (filter.q !== undefined) {
    where.push(sql.fragment`command ILIKE ${containsPattern(filter.q)}`);
  }
  return where;
}

export async function listTasks(db: Db, query: TaskFilter & { cursor?: string; limit: number }) {
  const after = decodeCursor(query.cursor);
  const where = [sql.fragment`id > ${after}`, ...taskWhere(query)];
  // The page first, then one look-up per row for its latest attempt and that attempt's worker.
  const rows = await db.any(sql.unsafe`
    SELECT t.*, x.id AS x_id, x.status AS x_status, x.worker_id AS x_worker_id, w.name AS x_worker_name,
           x.exit_code AS x_exit_code, x.running_at AS x_running_at, x.finished_at AS x_finished_at,
           round(extract(epoch FROM coalesce(x.finished_at, now()) - coalesce(x.running_at, x.assigned_at))::numeric, 3) AS x_duration
    FROM (SELECT ${TASK_COLUMNS} FROM tasks WHERE ${sql.join(where, sql.fragment` AND `)} ORDER BY id LIMIT ${query.limit + 1}) t
    LEFT JOIN executions x ON x.id = t.execution_id
    LEFT JOIN workers w ON w.id = x.worker_id
    ORDER BY t.id`);
  const items = rows.map(({ x_id, x_status, x_worker_id, x_worker_name, x_exit_code, x_running_at, x_finished_at, x_duration, ...task }) => ({
    ...task,
    latest: x_id === null ? null : {
      execution_id: x_id, status: x_status, worker_id: x_worker_id, worker_name: x_worker_name, exit_code: x_exit_code,
      running_at: x_running_at, finished_at: x_finished_at, duration_seconds: x_duration,
    },
  }));
  return pageOf(items as unknown as TaskListItem[], query.limit);
}

export async function getTask(db: Db, id: number): Promise<Task | null> {
  return (await db.maybeOne(sql.unsafe`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ${id}`)) as Task | null;
}

export async function taskExecutions(db: Db, taskId: number): Promise<Execution[]> {
  return readExecutions(db, sql.fragment`x.task_id = ${taskId}`, sql.fragment`x.attempt`);
}

