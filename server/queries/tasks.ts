// Read side of tasks: the filter every list and bulk operation shares, and one task with its
// executions (the list itself is in taskList.ts).
import { sql, type FragmentSqlToken } from 'slonik';
import type { Task, TaskFilter } from '../../shared/schemas/task.js';
import type { Execution } from '../../shared/schemas/execution.js';
import type { Db } from '../db/pool.js';
import { readExecutions } from './executions.js';
import { containsPattern } from './pagination.js';
import { waitingForSql } from './why.js';

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
  // The latest attempt is the one tasks.execution_id names: a task never run matches
  // neither. A worker's executions are found by index (executions_by_worker); naming
  // their tasks too lets the plan fetch those by id rather than scan every task.
  if (filter.worker_id !== undefined) {
    where.push(sql.fragment`(id, execution_id) IN (SELECT task_id, id FROM executions WHERE worker_id = ${filter.worker_id})`);
  }
  if (filter.failure_class?.length) {
    where.push(sql.fragment`execution_id IN (SELECT id FROM executions WHERE failure_class = ANY(${sql.array(filter.failure_class, 'text')}))`);
  }
  if (filter.reason !== undefined) where.push(waitingForSql(filter.reason));
  return where;
}

export async function getTask(db: Db, id: number): Promise<Task | null> {
  return (await db.maybeOne(sql.unsafe`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ${id}`)) as Task | null;
}

export async function taskExecutions(db: Db, taskId: number): Promise<Execution[]> {
  return readExecutions(db, sql.fragment`x.task_id = ${taskId}`, sql.fragment`x.attempt`);
}

