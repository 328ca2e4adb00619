// Read side of tasks: the filtered, paginated list and one task with its executions.
import { sql, type FragmentSqlToken } from 'slonik';
import type { Task } from '../../shared/schemas/task.js';
import type { Execution } from '../../shared/schemas/execution.js';
import type { Db } from '../db/pool.js';
import { EXECUTION_COLUMNS } from './executions.js';
import { containsPattern, decodeCursor, pageOf } from './pagination.js';

export const TASK_COLUMNS = sql.fragment`
  id, name, command, shell, container, container_options, inputs, resources, output, workflow_id, step_id, tag,
  priority, depends_on, max_retries, timeouts, env, requirements, key, status, attempts, execution_id,
  submitted_at, submitted_by, updated_at, version, parameters`;

export interface TaskFilter {
  status?: string[];
  workflow_id?: number;
  step_id?: number;
  tag?: string;
  q?: string;
}

export function taskWhere(filter: TaskFilter): FragmentSqlToken[] {
  const where: FragmentSqlToken[] = [];
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
  const rows = await db.any(sql.unsafe`
    SELECT ${TASK_COLUMNS} FROM tasks WHERE ${sql.join(where, sql.fragment` AND `)}
    ORDER BY id LIMIT ${query.limit + 1}`);
  return pageOf(rows as unknown as Task[], query.limit);
}

export async function getTask(db: Db, id: number): Promise<Task | null> {
  return (await db.maybeOne(sql.unsafe`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ${id}`)) as Task | null;
}

export async function taskExecutions(db: Db, taskId: number): Promise<Execution[]> {
  const rows = await db.any(sql.unsafe`SELECT ${EXECUTION_COLUMNS} FROM executions WHERE task_id = ${taskId} ORDER BY attempt`);
  return rows as unknown as Execution[];
}

