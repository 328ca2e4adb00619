// Routes of /tasks: submit (one or many), list, count, read one, read its events, kill, suspend
// and continue one.
import type Router from '@koa/router';
import { z } from 'zod/v4';
import { MAX_TASKS_PER_REQUEST } from '../../../shared/limits.js';
import { TaskInput } from '../../../shared/schemas/task.js';
import { killTask } from '../../commands/killTask.js';
import { continueTasks, suspendTasks, type SignalResult, type SignalSkipReason } from '../../commands/signalExecutions.js';
import { submitTasks } from '../../commands/submitTasks.js';
import { ProblemError, conflict, invalid, notFound } from '../../errors.js';
import { readSettledEventsAfter } from '../../events/readEvents.js';
import { countTasks, listTasks } from '../../queries/taskList.js';
import { getTask, taskExecutions } from '../../queries/tasks.js';
import { bind, parseWith } from '../bind.js';
import type { Db, Pool } from '../../db/pool.js';
import type { ServerContext } from '../context.js';
import { eventPage } from './events.js';

/** How long a task's history waits for its committed events that an older transaction holds back. */
export const HISTORY_SETTLE_MS = 10_000;

const Bulk = z.strictObject({ tasks: z.array(z.unknown()) });

/** One task, or { tasks: [...] }: validated item by item so that errors name `tasks[i].field`. */
function parseSubmission(raw: unknown): { bulk: boolean; tasks: z.output<typeof TaskInput>[] } {
  if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'tasks' in raw) {
    const { tasks } = parseWith(Bulk, raw);
    if (tasks.length === 0) throw invalid([{ field: 'tasks', message: 'must hold at least one task' }]);
    if (tasks.length > MAX_TASKS_PER_REQUEST) {
      throw new ProblemError(413, 'Payload too large', `at most ${MAX_TASKS_PER_REQUEST} tasks per request, got ${tasks.length}`);
    }
    const errors = [];
    const parsed = [];
    for (const [i, item] of tasks.entries()) {
      try {
        parsed.push(parseWith(TaskInput, item, `tasks[${i}]`));
      } catch (error) {
        if (!(error instanceof ProblemError) || !error.errors) throw error;
        errors.push(...error.errors);
      }
    }
    if (errors.length) throw invalid(errors);
    return { bulk: true, tasks: parsed };
  }
  if (Array.isArray(raw)) throw invalid([{ field: '(body)', message: 'send one task object, or { "tasks": [ ... ] }' }]);
  return { bulk: false, tasks: [parseWith(TaskInput, raw)] };
}

/**
 * One task through a set-based signal command: its result, the same answer when it already
 * is in the state asked for, 404 for an unknown task, 409 when there is nothing to signal.
 */
async function signalOne<Done extends string, Same extends string>(
  pool: Pool, command: (tx: Db) => Promise<SignalResult>, done: Done, same: Same & SignalSkipReason,
): Promise<{ result: Done | Same; execution_id: number }> {
  const { affected: [changed], skipped: [skip] } = await pool.transaction(command);
  if (changed) return { result: done, execution_id: changed.execution_id };
  if (skip!.reason === same) return { result: same, execution_id: skip!.execution_id! };
  throw skip!.reason === 'not_found' ? notFound(`task ${skip!.task_id}`) : conflict(skip!.detail);
}

export function taskRoutes(router: Router, { pool }: ServerContext): void {
  bind(router, 'submitTasks', async ({ body, meta, ctx }) => {
    const submission = body as unknown as ReturnType<typeof parseSubmission>;
    const field = (i: number) => (submission.bulk ? `tasks[${i}].` : '');
    const result = await submitTasks(pool, submission.tasks, field, meta);
    if (result.every((t) => !t.created)) ctx.status = 200;
    return { tasks: result };
  }, { parseBody: parseSubmission });

  bind(router, 'listTasks', async ({ query }) => listTasks(pool, query));

  // Before /tasks/:id, which would take "count" for an id.
  bind(router, 'countTasks', async ({ query }) => countTasks(pool, query));

  bind(router, 'getTask', async ({ params }) => {
    const task = await getTask(pool, params.id);
    if (!task) throw notFound(`task ${params.id}`);
    return { ...task, executions: await taskExecutions(pool, params.id) };
  });

  bind(router, 'killTask', async ({ params, body, meta }) => ({ result: await killTask(pool, params.id, body.grace_seconds, meta) }));

  bind(router, 'suspendTask', async ({ params, meta }) =>
    signalOne(pool, (tx) => suspendTasks(tx, [params.id], meta), 'suspend_requested', 'already_suspended'));

  bind(router, 'continueTask', async ({ params, meta }) =>
    signalOne(pool, (tx) => continueTasks(tx, [params.id], meta), 'continue_requested', 'not_suspended'));

  // The /events reader with a task filter, so its ids are safe resume points. It waits a
  // little for events held back by an open older transaction: the history read right
  // after a change shows it.
  bind(router, 'taskEvents', async ({ params, query: { after, limit } }) => {
    if (!(await getTask(pool, params.id))) throw notFound(`task ${params.id}`);
    return eventPage(await readSettledEventsAfter(pool, after ?? null, { task_id: params.id }, limit, HISTORY_SETTLE_MS), limit);
  });
}
