// Routes of steering: hold, release, edit, relaunch and cancel one task or all a filter
// matches; pause, resume and cancel a workflow, a step, a tag or everything; why a task,
// a step's tasks or a worker wait. A one-task
// route runs the bulk command on that id and turns "not matched" into 404 and "left as
// it was" into 409 with the reason, so curl gets the status a single resource deserves.
import type Router from '@koa/router';
import type { BulkResult } from '../../../shared/schemas/steering.js';
import { UNFINISHED_TASK_STATUSES, type TaskFilter } from '../../../shared/schemas/task.js';
import { cancelTasks } from '../../commands/cancelTasks.js';
import { editTasks } from '../../commands/editTasks.js';
import { holdTasks } from '../../commands/holdTasks.js';
import { pauseScope } from '../../commands/pauseScope.js';
import { relaunchTasks } from '../../commands/relaunchTasks.js';
import { releaseTasks } from '../../commands/releaseTasks.js';
import { resumeScope } from '../../commands/resumeScope.js';
import { conflict, notFound } from '../../errors.js';
import { listPauses } from '../../queries/pauses.js';
import { stepWhy, taskWhy, workerForWhy, workerWhy } from '../../queries/why.js';
import { getStep, getWorkflow } from '../../queries/workflows.js';
import type { Pool } from '../../db/pool.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';

function one(taskId: number, result: BulkResult): BulkResult {
  if (result.matched === 0) throw notFound(`task ${taskId}`);
  if (result.changed === 0 && result.skipped.length) throw conflict(`task ${taskId} is left as it is: ${result.skipped[0]!.reason}`);
  return result;
}

/**
 * The filter of a workflow's or a step's cancel: its tasks that have not ended, so that the
 * ended ones, however many, neither count to a bulk request's bound nor fill its answer. An
 * unknown workflow or step is a 404, as its pause is.
 */
async function unfinishedOf(pool: Pool, kind: 'workflow' | 'step', id: number): Promise<TaskFilter> {
  if (!(await (kind === 'workflow' ? getWorkflow(pool, id) : getStep(pool, id)))) throw notFound(`${kind} ${id}`);
  return { [`${kind}_id`]: id, status: [...UNFINISHED_TASK_STATUSES] };
}

export function steeringRoutes(router: Router, { pool }: ServerContext): void {
  bind(router, 'editTask', async ({ params, body, meta }) => one(params.id, await editTasks(pool, { ids: [params.id] }, body, meta)));
  bind(router, 'holdTask', async ({ params, body, meta }) => one(params.id, await holdTasks(pool, { ids: [params.id] }, body.reason, meta)));
  bind(router, 'releaseTask', async ({ params, body, meta }) => one(params.id, await releaseTasks(pool, { ids: [params.id] }, body.reason, meta)));
  bind(router, 'relaunchTask', async ({ params, body, meta }) => one(params.id, await relaunchTasks(pool, { ids: [params.id] }, body.reason, meta)));
  bind(router, 'cancelTask', async ({ params, body, meta }) => one(params.id, await cancelTasks(pool, { ids: [params.id] }, body, meta)));

  bind(router, 'editTasks', async ({ body, meta }) => editTasks(pool, body.filter, body, meta));
  bind(router, 'holdTasks', async ({ body, meta }) => holdTasks(pool, body.filter, body.reason, meta));
  bind(router, 'releaseTasks', async ({ body, meta }) => releaseTasks(pool, body.filter, body.reason, meta));
  bind(router, 'relaunchTasks', async ({ body, meta }) => relaunchTasks(pool, body.filter, body.reason, meta));
  bind(router, 'cancelTasks', async ({ body, meta }) => cancelTasks(pool, body.filter, body, meta));

  bind(router, 'pauseWorkflow', async ({ params, body, meta }) => pauseScope(pool, { kind: 'workflow', id: params.id }, body, meta));
  bind(router, 'resumeWorkflow', async ({ params, meta }) => resumeScope(pool, { kind: 'workflow', id: params.id }, meta));
  bind(router, 'cancelWorkflow', async ({ params, body, meta }) => cancelTasks(pool, await unfinishedOf(pool, 'workflow', params.id), body, meta));
  bind(router, 'pauseStep', async ({ params, body, meta }) => pauseScope(pool, { kind: 'step', id: params.id }, body, meta));
  bind(router, 'resumeStep', async ({ params, meta }) => resumeScope(pool, { kind: 'step', id: params.id }, meta));
  bind(router, 'cancelStep', async ({ params, body, meta }) => cancelTasks(pool, await unfinishedOf(pool, 'step', params.id), body, meta));
  bind(router, 'pauseQueue', async ({ body, meta }) => pauseScope(pool, { kind: 'queue', tag: body.tag ?? null }, body, meta));
  bind(router, 'resumeQueue', async ({ body, meta }) => resumeScope(pool, { kind: 'queue', tag: body.tag ?? null }, meta));

  bind(router, 'listPauses', async () => ({ items: await listPauses(pool) }));

  bind(router, 'whyTask', async ({ params }) => {
    const why = await taskWhy(pool, params.id);
    if (!why) throw notFound(`task ${params.id}`);
    return why;
  });
  bind(router, 'whyStep', async ({ params }) => {
    if (!(await getStep(pool, params.id))) throw notFound(`step ${params.id}`);
    return stepWhy(pool, params.id);
  });
  bind(router, 'whyWorker', async ({ params }) => {
    const worker = await workerForWhy(pool, params.id);
    if (!worker) throw notFound(`worker ${params.id}`);
    return workerWhy(pool, worker);
  });
}
