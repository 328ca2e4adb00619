// The routes of the contract (../api.ts) for tasks: submitting one, many or a sweep, reading
// them, and acting on one or on a filter (kill, suspend, edit, hold, relaunch, cancel).
import { z } from 'zod/v4';
import { Id, page } from '../schemas/common.js';
import { EventPage, LogPageQuery } from '../schemas/event.js';
import { Execution } from '../schemas/execution.js';
import { Sweep, SweepResponse } from '../schemas/sweep.js';
import { SubmitTasksBody, SubmitTasksResponse, Task, TaskFilterQuery, TaskListItem, TaskListQuery } from '../schemas/task.js';
import { KillBody } from '../schemas/worker.js';
import { TaskCounts } from '../schemas/workflow.js';
import {
  BulkActionBody, BulkCancelBody, BulkResult, CancelBody, EditTaskBody, EditTasksBody, TaskActionBody,
} from '../schemas/steering.js';
import { IdParams, READ, STEER, type RouteSpec } from './spec.js';

export const TaskDetail = Task.extend({ executions: z.array(Execution) });
export type TaskDetail = z.infer<typeof TaskDetail>;

export const TaskCount = z.object({
  count: z.number().int().describe('the tasks the filter matches'),
  by_status: TaskCounts,
});
export type TaskCount = z.infer<typeof TaskCount>;

export const taskRoutes = {
  submitTasks: {
    method: 'post', path: '/tasks', roles: STEER, tag: 'tasks', status: 201,
    summary: 'Submit one task, or up to 10,000 as { "tasks": [...] }',
    body: SubmitTasksBody, response: SubmitTasksResponse,
  },
  submitSweep: {
    method: 'post', path: '/sweeps', roles: STEER, tag: 'tasks', status: 201,
    summary: 'Submit a parameter sweep: one task template and a grid of parameters, up to 100,000 tasks; 200 when every task existed',
    body: Sweep, response: SweepResponse,
  },
  listTasks: {
    method: 'get', path: '/tasks', roles: READ, tag: 'tasks', summary: 'List tasks, filtered, sorted, and paged by cursor or offset',
    query: TaskListQuery, response: page(TaskListItem),
  },
  countTasks: {
    method: 'get', path: '/tasks/count', roles: READ, tag: 'tasks',
    summary: 'How many tasks the filters of the list match, in all and by status (what a bulk action on them would see)',
    query: TaskFilterQuery, response: TaskCount,
  },
  getTask: {
    method: 'get', path: '/tasks/:id', roles: READ, tag: 'tasks', summary: 'One task with its executions',
    params: IdParams, response: TaskDetail,
  },
  taskEvents: {
    method: 'get', path: '/tasks/:id/events', roles: READ, tag: 'tasks',
    summary: "A page of a task's events and its executions', in the commit-safe order of /events",
    params: IdParams, query: LogPageQuery, response: EventPage,
  },
  killTask: {
    method: 'post', path: '/tasks/:id/kill', roles: STEER, tag: 'tasks',
    summary: 'Kill a task: TERM then KILL after the grace if it runs; cancel it if it has not started',
    params: IdParams, body: KillBody, response: z.object({ result: z.enum(['kill_requested', 'cancelled']) }),
  },
  suspendTask: {
    method: 'post', path: '/tasks/:id/suspend', roles: STEER, tag: 'tasks',
    summary: "Suspend a task's live execution (Docker pause, SIGSTOP to a bare task's process group); one not started yet is suspended as it starts",
    params: IdParams, response: z.object({ result: z.enum(['suspend_requested', 'already_suspended']), execution_id: Id }),
  },
  continueTask: {
    method: 'post', path: '/tasks/:id/continue', roles: STEER, tag: 'tasks',
    summary: "Let a suspended task's execution go on (Docker unpause, SIGCONT to a bare task's process group)",
    params: IdParams, response: z.object({ result: z.enum(['continue_requested', 'not_suspended']), execution_id: Id }),
  },
  editTask: {
    method: 'patch', path: '/tasks/:id', roles: STEER, tag: 'steering',
    summary: 'Edit a task not yet running (new field values, find/replace in the command); `dry_run` shows the change',
    params: IdParams, body: EditTaskBody, response: BulkResult,
  },
  holdTask: {
    method: 'post', path: '/tasks/:id/hold', roles: STEER, tag: 'steering', summary: 'Hold a task not yet started: no worker takes it until it is released',
    params: IdParams, body: TaskActionBody, response: BulkResult,
  },
  releaseTask: {
    method: 'post', path: '/tasks/:id/release', roles: STEER, tag: 'steering', summary: 'Release a held task',
    params: IdParams, body: TaskActionBody, response: BulkResult,
  },
  relaunchTask: {
    method: 'post', path: '/tasks/:id/relaunch', roles: STEER, tag: 'steering',
    summary: 'Relaunch a task that ended: a new attempt, the history kept, the retry count started again',
    params: IdParams, body: TaskActionBody, response: BulkResult,
  },
  cancelTask: {
    method: 'post', path: '/tasks/:id/cancel', roles: STEER, tag: 'steering',
    summary: 'Cancel a task: at once if it has not started, by TERM then KILL after the grace if it runs',
    params: IdParams, body: CancelBody, response: BulkResult,
  },
  editTasks: {
    method: 'post', path: '/tasks/edit', roles: STEER, tag: 'steering',
    summary: 'Edit every task a filter matches that is not yet running; `dry_run` counts and shows a sample',
    body: EditTasksBody, response: BulkResult,
  },
  holdTasks: {
    method: 'post', path: '/tasks/hold', roles: STEER, tag: 'steering', summary: 'Hold every task a filter matches that has not started',
    body: BulkActionBody, response: BulkResult,
  },
  releaseTasks: {
    method: 'post', path: '/tasks/release', roles: STEER, tag: 'steering', summary: 'Release every held task a filter matches',
    body: BulkActionBody, response: BulkResult,
  },
  relaunchTasks: {
    method: 'post', path: '/tasks/relaunch', roles: STEER, tag: 'steering', summary: 'Relaunch every ended task a filter matches',
    body: BulkActionBody, response: BulkResult,
  },
  cancelTasks: {
    method: 'post', path: '/tasks/cancel', roles: STEER, tag: 'steering', summary: 'Cancel every unfinished task a filter matches',
    body: BulkCancelBody, response: BulkResult,
  },
} as const satisfies Record<string, RouteSpec>;
