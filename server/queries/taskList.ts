// The task list as the UI and `labq task list` read it: filtered (taskWhere), in one of
// several orders, paged by keyset cursor or by offset; and the count of a filter by status.
import { sql, type FragmentSqlToken } from 'slonik';
import { TASK_STATUSES, type TaskFilter, type TaskListItem, type TaskSort, type TaskStatus } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';
import { invalid } from '../errors.js';
import { decodeCursor, decodeSortedCursor, encodeCursor, encodeSortedCursor } from './pagination.js';
import { TASK_COLUMNS, taskWhere } from './tasks.js';

interface Order {
  /** What the rows are ordered by (then by id); an indexable column where there is one. */
  by: FragmentSqlToken;
  /** The sort key a cursor carries, in a form that sorts as `by` does and survives JSON exactly. */
  key: FragmentSqlToken;
  /** A cursor's key, back as a value to compare `by` with. */
  bound: (key: never) => FragmentSqlToken;
  validKey: (key: unknown) => boolean;
}

const isInt = (key: unknown) => Number.isSafeInteger(key);
const ISO_MICROS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** Times to the microsecond, in UTC: a JavaScript Date would round them to the millisecond and break ties. */
function byTime(column: FragmentSqlToken): Order {
  return {
    by: column,
    key: sql.fragment`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    bound: (key: string) => sql.fragment`${key}::timestamptz`,
    validKey: (key) => typeof key === 'string' && ISO_MICROS.test(key),
  };
}

/** The life of a task, not the alphabet: waiting, blocked, held, pending, …, cancelled (sql/0024_task_list.sql). */
const statusRank = sql.fragment`task_status_rank(status)`;

const ORDERS: Record<string, Order> = {
  id: { by: sql.fragment`id`, key: sql.fragment`id`, bound: (key: number) => sql.fragment`${key}::int8`, validKey: isInt },
  priority: { by: sql.fragment`priority`, key: sql.fragment`priority`, bound: (key: number) => sql.fragment`${key}::int4`, validKey: isInt },
  submitted_at: byTime(sql.fragment`submitted_at`),
  updated_at: byTime(sql.fragment`updated_at`),
  status: { by: statusRank, key: statusRank, bound: (key: number) => sql.fragment`${key}::int4`, validKey: isInt },
};

export interface TaskListRequest extends TaskFilter {
  sort?: TaskSort;
  cursor?: string;
  offset?: number;
  limit: number;
}

/** Where a cursor resumes: the rows after (or before, descending) its key and id. */
function resumeAfter(sort: TaskSort, order: Order, cursor: string | undefined, descending: boolean): FragmentSqlToken[] {
  if (!cursor) return [];
  const than = descending ? sql.fragment`<` : sql.fragment`>`;
  if (sort === 'id') return [sql.fragment`id > ${decodeCursor(cursor)}`];
  const { key, after } = decodeSortedCursor(cursor, sort, order.validKey);
  if (order === ORDERS.id) return [sql.fragment`id ${than} ${after}::int8`];
  return [sql.fragment`(${order.by}, id) ${than} (${order.bound(key as never)}, ${after}::int8)`];
}

export async function listTasks(db: Db, query: TaskListRequest) {
  if (query.cursor && query.offset !== undefined) {
    throw invalid([{ field: 'offset', message: 'give offset or cursor, not both: a cursor already says where the page starts' }]);
  }
  const sort = query.sort ?? 'id';
  const descending = sort.startsWith('-');
  const order = ORDERS[sort.replace(/^-/, '')]!;
  const direction = descending ? sql.fragment`DESC` : sql.fragment`ASC`;
  const where = [sql.fragment`true`, ...resumeAfter(sort, order, query.cursor, descending), ...taskWhere(query)];
  // The page is chosen on ids and sort values alone, so a deep offset sorts narrow rows;
  // the columns, the cursor's key, the latest attempt and its worker are read for the
  // page's rows only.
  const rows = await db.any(sql.unsafe`
    WITH page AS (
      SELECT id, ${order.by} AS sort_by FROM tasks
      WHERE ${sql.join(where, sql.fragment` AND `)}
      ORDER BY ${order.by} ${direction}, id ${direction}
      LIMIT ${query.limit + 1} OFFSET ${query.offset ?? 0})
    SELECT t.*, x.id AS x_id, x.status AS x_status, x.worker_id AS x_worker_id, w.name AS x_worker_name,
           x.exit_code AS x_exit_code, x.running_at AS x_running_at, x.finished_at AS x_finished_at,
           round(extract(epoch FROM coalesce(x.finished_at, now()) - coalesce(x.running_at, x.assigned_at))::numeric, 3) AS x_duration
    FROM page p
    JOIN LATERAL (SELECT ${TASK_COLUMNS}, ${order.key} AS sort_key FROM tasks WHERE tasks.id = p.id) t ON true
    LEFT JOIN executions x ON x.id = t.execution_id
    LEFT JOIN workers w ON w.id = x.worker_id
    ORDER BY p.sort_by ${direction}, p.id ${direction}`);
  const items = rows.slice(0, query.limit).map(({ sort_by, sort_key, x_id, x_status, x_worker_id, x_worker_name, x_exit_code, x_running_at, x_finished_at, x_duration, ...task }) => ({
    ...task,
    latest: x_id === null ? null : {
      execution_id: x_id, status: x_status, worker_id: x_worker_id, worker_name: x_worker_name, exit_code: x_exit_code,
      running_at: x_running_at, finished_at: x_finished_at, duration_seconds: x_duration,
    },
  })) as unknown as TaskListItem[];
  const last = rows[query.limit - 1];
  const next_cursor = rows.length <= query.limit ? null
    : sort === 'id' ? encodeCursor(last!.id as number)
    : encodeSortedCursor(sort, last!.sort_key as string | number, last!.id as number);
  return { items, next_cursor };
}

/** How many tasks a filter matches, in all and by status: one grouped scan, whatever the number. */
export async function countTasks(db: Db, filter: TaskFilter): Promise<{ count: number; by_status: Partial<Record<TaskStatus, number>> }> {
  const rows = await db.any(sql.unsafe`
    SELECT status, count(*) AS n FROM tasks WHERE ${sql.join([sql.fragment`true`, ...taskWhere(filter)], sql.fragment` AND `)} GROUP BY status`);
  const byStatus = new Map(rows.map((r) => [r.status as TaskStatus, r.n as number]));
  // In the order of a task's life, as the lists show statuses.
  const by_status = Object.fromEntries(TASK_STATUSES.filter((s) => byStatus.has(s)).map((s) => [s, byStatus.get(s)!]));
  return { count: [...byStatus.values()].reduce((a, b) => a + b, 0), by_status };
}
