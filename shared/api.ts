// The REST API contract: every route with its method, path, and the schemas of its
// parameters, query, body and response. The server binds its handlers to these entries,
// the typed client calls them, and the OpenAPI document is generated from them, so the
// three cannot drift apart.
import { z } from 'zod/v4';
import {
  ApiToken, ChangeOwnPasswordBody, CreatedToken, CreateTokenBody, CreateUserBody, LoginBody, LoginResponse, Me, NameParams,
  PatchUserBody, User,
} from './schemas/account.js';
import { DockerPolicy } from './dockerPolicy.js';
import type { Role } from './schemas/auth.js';
import { Id, IdParam, PageQuery, Timestamp, page } from './schemas/common.js';
import { EventLatest, EventLatestQuery, EventPage, EventPageQuery, EventStreamQuery, LogPageQuery } from './schemas/event.js';
import { Execution } from './schemas/execution.js';
import { PutSecretBody, SecretInfo, SecretNameParams } from './schemas/secret.js';
import { Sweep, SweepResponse } from './schemas/sweep.js';
import { RunScheduleBody, ScheduleDetail, ScheduleInput, ScheduleListItem, SchedulePatch } from './schemas/schedule.js';
import { Stats, StatsQuery } from './schemas/stats.js';
import { SubmitTasksBody, SubmitTasksResponse, Task, TaskFilterQuery, TaskListItem, TaskListQuery } from './schemas/task.js';
import {
  KillBody, OutputQuery, PatchWorkerBody, PollBody, PollResponse, RegisterWorkerBody, ReportsBody, Worker, WorkerExecution,
  WorkerExecutionsQuery,
} from './schemas/worker.js';
import { StepWhy, TaskWhy, WorkerWhy } from './schemas/why.js';
import { Step, StepInput, StepListQuery, TaskCounts, Workflow, WorkflowInput, WorkflowListQuery } from './schemas/workflow.js';
import {
  BulkActionBody, BulkCancelBody, BulkResult, CancelBody, EditTaskBody, EditTasksBody, Pause, PauseBody, PauseResult,
  QueuePauseBody, QueueResumeBody, TaskActionBody,
} from './schemas/steering.js';

export const API_PREFIX = '/api/v1';

export interface RouteSpec {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Relative to API_PREFIX, with `:name` parameters. */
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The JSON response; 'sse' for a text/event-stream; 'text' for text/plain (or SSE when asked to follow). */
  response: z.ZodType | 'sse' | 'text';
  status?: number;
  /**
   * The roles that may call it besides admin, which may call everything: `[]` is admin
   * only. Checked before anything else of the request (server/http/bind.ts).
   */
  roles: readonly Role[];
  /** Needs no identity at all (login): the only such route under API_PREFIX. */
  public?: true;
}

const IdParams = z.object({ id: IdParam });

/** Reads. */
const READ = ['operator', 'viewer'] as const;
/** Submitting and steering. */
const STEER = ['operator'] as const;
/** What the worker daemon calls; a worker token only as the worker it is bound to (server/http/access.ts). */
const WORKER = ['worker'] as const;

export const TaskDetail = Task.extend({ executions: z.array(Execution) });
export type TaskDetail = z.infer<typeof TaskDetail>;

export const TaskCount = z.object({
  count: z.number().int().describe('the tasks the filter matches'),
  by_status: TaskCounts,
});
export type TaskCount = z.infer<typeof TaskCount>;

export const DockerPolicyAnswer = z.object({
  policy: DockerPolicy,
  version: z.number().int().describe('0 while the defaults apply'),
  updated_at: Timestamp.nullable(),
  updated_by: z.string().nullable(),
});
export type DockerPolicyAnswer = z.infer<typeof DockerPolicyAnswer>;

export const routes = {
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
  createSchedule: {
    method: 'post', path: '/schedules', roles: STEER, tag: 'schedules', status: 201,
    summary: 'Create a schedule: tasks or a sweep submitted on a cron, in a time zone, with a context of named parameters',
    body: ScheduleInput, response: ScheduleDetail,
  },
  listSchedules: {
    method: 'get', path: '/schedules', roles: READ, tag: 'schedules', summary: 'Every schedule with its next due times and its latest run',
    response: z.object({ items: z.array(ScheduleListItem) }),
  },
  getSchedule: {
    method: 'get', path: '/schedules/:id', roles: READ, tag: 'schedules', summary: 'One schedule with its latest runs and how their tasks stand',
    params: IdParams, response: ScheduleDetail,
  },
  editSchedule: {
    method: 'patch', path: '/schedules/:id', roles: STEER, tag: 'schedules',
    summary: 'Change some fields of a schedule (recorded with old and new values); a new cron or time zone moves the next due time',
    params: IdParams, body: SchedulePatch, response: ScheduleDetail,
  },
  deleteSchedule: {
    method: 'delete', path: '/schedules/:id', roles: STEER, tag: 'schedules', summary: 'Delete a schedule (the tasks it made stay)',
    params: IdParams, response: z.object({ ok: z.literal(true) }),
  },
  enableSchedule: {
    method: 'post', path: '/schedules/:id/enable', roles: STEER, tag: 'schedules', summary: 'Enable a schedule: next due at its first due time from now',
    params: IdParams, response: ScheduleDetail,
  },
  disableSchedule: {
    method: 'post', path: '/schedules/:id/disable', roles: STEER, tag: 'schedules', summary: 'Disable a schedule: the clock no longer fires it',
    params: IdParams, response: ScheduleDetail,
  },
  runSchedule: {
    method: 'post', path: '/schedules/:id/run', roles: STEER, tag: 'schedules', status: 201,
    summary: 'Run a schedule now, optionally with some context parameters changed for this run only',
    params: IdParams, body: RunScheduleBody,
    response: z.object({
      run: z.number().int(), due_at: Timestamp, fired_at: Timestamp, task_ids: z.array(Id), context: z.record(z.string(), z.string()),
    }),
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
  pauseWorkflow: {
    method: 'post', path: '/workflows/:id/pause', roles: STEER, tag: 'steering',
    summary: 'Pause a workflow: its tasks are not claimed until it is resumed; running ones go on unless a signal is given',
    params: IdParams, body: PauseBody, response: PauseResult,
  },
  resumeWorkflow: {
    method: 'post', path: '/workflows/:id/resume', roles: STEER, tag: 'steering', summary: 'Resume a paused workflow',
    params: IdParams, response: PauseResult,
  },
  cancelWorkflow: {
    method: 'post', path: '/workflows/:id/cancel', roles: STEER, tag: 'steering', summary: "Cancel a workflow's unfinished tasks",
    params: IdParams, body: CancelBody, response: BulkResult,
  },
  pauseStep: {
    method: 'post', path: '/steps/:id/pause', roles: STEER, tag: 'steering', summary: 'Pause a step (as a workflow)',
    params: IdParams, body: PauseBody, response: PauseResult,
  },
  resumeStep: {
    method: 'post', path: '/steps/:id/resume', roles: STEER, tag: 'steering', summary: 'Resume a paused step',
    params: IdParams, response: PauseResult,
  },
  cancelStep: {
    method: 'post', path: '/steps/:id/cancel', roles: STEER, tag: 'steering', summary: "Cancel a step's unfinished tasks",
    params: IdParams, body: CancelBody, response: BulkResult,
  },
  pauseQueue: {
    method: 'post', path: '/queue/pause', roles: STEER, tag: 'steering', summary: 'Pause one routing tag, or everything',
    body: QueuePauseBody, response: PauseResult,
  },
  resumeQueue: {
    method: 'post', path: '/queue/resume', roles: STEER, tag: 'steering', summary: 'Resume one routing tag, or everything',
    body: QueueResumeBody, response: PauseResult,
  },
  listPauses: {
    method: 'get', path: '/pauses', roles: READ, tag: 'steering', summary: 'What is paused now: everything, tags, workflows, steps',
    response: z.object({ items: z.array(Pause) }),
  },
  whyTask: {
    method: 'get', path: '/tasks/:id/why', roles: READ, tag: 'steering',
    summary: 'Why a task is not running: held, dependencies, paused, backing off, no worker for its tag or requirements, workers busy, queued',
    params: IdParams, response: TaskWhy,
  },
  whyStep: {
    method: 'get', path: '/steps/:id/why', roles: READ, tag: 'steering', summary: "How many of a step's tasks wait, for each reason",
    params: IdParams, response: StepWhy,
  },
  whyWorker: {
    method: 'get', path: '/workers/:id/why', roles: READ, tag: 'steering', summary: 'Why a worker takes no task now',
    params: IdParams, response: WorkerWhy,
  },
  registerWorker: {
    method: 'post', path: '/workers', roles: WORKER, tag: 'workers', status: 201,
    summary: 'Register a worker (again, after a restart: the same name keeps the same id)',
    body: RegisterWorkerBody, response: Worker,
  },
  listWorkers: {
    method: 'get', path: '/workers', roles: READ, tag: 'workers', summary: 'List workers with their status and settings',
    query: PageQuery, response: page(Worker),
  },
  getWorker: {
    method: 'get', path: '/workers/:id', roles: READ, tag: 'workers', summary: 'One worker', params: IdParams, response: Worker,
  },
  updateWorker: {
    method: 'patch', path: '/workers/:id', roles: STEER, tag: 'workers',
    summary: "Change a worker's concurrency, prefetch, tags, pause or drain it; applied at its next poll",
    params: IdParams, body: PatchWorkerBody, response: Worker,
  },
  streamWorkers: {
    method: 'get', path: '/workers/stream', roles: READ, tag: 'workers',
    summary: 'Server-Sent Events: `workers` with the whole list on connect, then `workers` with the workers that changed (metrics, settings, status, running executions); `deleted` with the ids of workers deleted since',
    response: 'sse',
  },
  deleteWorker: {
    method: 'delete', path: '/workers/:id', roles: STEER, tag: 'workers',
    summary: 'Delete a worker that is not online (409 otherwise): it leaves the list, its executions keep their history; a daemon registering under its name again brings it back',
    params: IdParams, response: z.object({ ok: z.literal(true) }),
  },
  workerExecutions: {
    method: 'get', path: '/workers/:id/executions', roles: READ, tag: 'workers',
    summary: "A worker's latest executions, newest first (up to 500), for its time line; also of a deleted worker",
    params: IdParams, query: WorkerExecutionsQuery, response: z.object({ items: z.array(WorkerExecution) }),
  },
  pollWorker: {
    method: 'post', path: '/workers/:id/poll', roles: WORKER, tag: 'workers',
    summary: 'Long poll of a worker: renews leases, returns assignments, kill orders and settings',
    params: IdParams, body: PollBody, response: PollResponse,
  },
  getExecution: {
    method: 'get', path: '/executions/:id', roles: READ, tag: 'executions', summary: 'One execution (attempt)',
    params: IdParams, response: Execution,
  },
  executionReports: {
    method: 'post', path: '/executions/:id/reports', roles: WORKER, tag: 'executions',
    summary: "A worker's reports about an execution: output chunks, phases, result (idempotent)",
    params: IdParams, body: ReportsBody, response: z.object({ ok: z.literal(true) }),
  },
  executionOutputSize: {
    method: 'get', path: '/executions/:id/output/size', roles: [...READ, ...WORKER], tag: 'executions',
    summary: 'Bytes of output stored per stream (a re-attaching worker resumes after them)',
    params: IdParams, response: z.object({ stdout: z.number().int(), stderr: z.number().int(), truncated: z.boolean() }),
  },
  executionOutput: {
    method: 'get', path: '/executions/:id/output', roles: READ, tag: 'executions',
    summary: "An execution's output as text, or with follow=1 as SSE until it ends",
    params: IdParams, query: OutputQuery, response: 'text',
  },
  createWorkflow: {
    method: 'post', path: '/workflows', roles: STEER, tag: 'workflows', status: 201, summary: 'Create a workflow',
    body: WorkflowInput, response: Workflow,
  },
  listWorkflows: {
    method: 'get', path: '/workflows', roles: READ, tag: 'workflows', summary: 'List workflows with their task counts',
    query: WorkflowListQuery, response: page(Workflow),
  },
  getWorkflow: {
    method: 'get', path: '/workflows/:id', roles: READ, tag: 'workflows', summary: 'One workflow with its task counts by status',
    params: IdParams, response: Workflow,
  },
  createStep: {
    method: 'post', path: '/steps', roles: STEER, tag: 'workflows', status: 201, summary: 'Create a step in a workflow',
    body: StepInput, response: Step,
  },
  listSteps: {
    method: 'get', path: '/steps', roles: READ, tag: 'workflows', summary: 'List steps with their task counts',
    query: StepListQuery, response: page(Step),
  },
  getStep: {
    method: 'get', path: '/steps/:id', roles: READ, tag: 'workflows', summary: 'One step with its task counts by status',
    params: IdParams, response: Step,
  },
  listEvents: {
    method: 'get', path: '/events', roles: READ, tag: 'events', summary: 'A page of the event log, in commit-safe order',
    query: EventPageQuery, response: EventPage,
  },
  latestEvents: {
    method: 'get', path: '/events/latest', roles: READ, tag: 'events',
    summary: 'The newest events, newest first, paged backwards; with the head cursor to follow the stream from',
    query: EventLatestQuery, response: EventLatest,
  },
  streamEvents: {
    method: 'get', path: '/events/stream', roles: READ, tag: 'events',
    summary: 'Server-Sent Events: replay after Last-Event-ID (or ?lastEventId=), then live',
    query: EventStreamQuery, response: 'sse',
  },
  login: {
    method: 'post', path: '/auth/login', tag: 'accounts', public: true, roles: ['operator', 'viewer', 'worker'],
    summary: 'Log in with a name and password: sets the labq_session cookie, answers the CSRF token; 401 alike for an unknown name and a wrong password, 429 after repeated failures',
    body: LoginBody, response: LoginResponse,
  },
  logout: {
    method: 'post', path: '/auth/logout', tag: 'accounts', roles: ['operator', 'viewer', 'worker'],
    summary: 'End the current session (with a token: nothing to end)', response: z.object({ ok: z.literal(true) }),
  },
  me: {
    method: 'get', path: '/auth/me', tag: 'accounts', roles: ['operator', 'viewer', 'worker'],
    summary: 'Who the caller is: a session (with its CSRF token) or a token', response: Me,
  },
  changeOwnPassword: {
    method: 'patch', path: '/auth/me', tag: 'accounts', roles: ['operator', 'viewer', 'worker'],
    summary: "Change the logged-in user's own password (needs the current one); the user's other sessions end",
    body: ChangeOwnPasswordBody, response: z.object({ ok: z.literal(true) }),
  },
  listUsers: {
    method: 'get', path: '/users', tag: 'accounts', roles: [], summary: 'Users (never their passwords)',
    response: z.object({ items: z.array(User) }),
  },
  createUser: {
    method: 'post', path: '/users', tag: 'accounts', roles: [], status: 201, summary: 'Create a user with a role and a password',
    body: CreateUserBody, response: User,
  },
  updateUser: {
    method: 'patch', path: '/users/:name', tag: 'accounts', roles: [],
    summary: "Set a user's password or role; a new password ends the user's sessions",
    params: NameParams, body: PatchUserBody, response: User,
  },
  removeUser: {
    method: 'delete', path: '/users/:name', tag: 'accounts', roles: [],
    summary: 'Remove a user: its sessions end at once, and the tokens it made in a session are revoked',
    params: NameParams, response: z.object({ ok: z.literal(true) }),
  },
  listTokens: {
    method: 'get', path: '/tokens', tag: 'accounts', roles: [], summary: 'API tokens (names, roles, expiry; never the values)',
    response: z.object({ items: z.array(ApiToken) }),
  },
  createToken: {
    method: 'post', path: '/tokens', tag: 'accounts', roles: [], status: 201,
    summary: 'Create an API token, optionally expiring; its value is in this answer only',
    body: CreateTokenBody, response: CreatedToken,
  },
  revokeToken: {
    method: 'delete', path: '/tokens/:name', tag: 'accounts', roles: [], summary: 'Revoke a token: refused from now on, on every server',
    params: NameParams, response: z.object({ ok: z.literal(true) }),
  },
  putSecret: {
    method: 'put', path: '/secrets/:name', tag: 'secrets', status: 201, roles: [],
    summary: 'Set a secret (201) or replace its value (200); the value is stored encrypted and never shown again',
    params: SecretNameParams, body: PutSecretBody, response: z.object({ name: z.string(), created: z.boolean() }),
  },
  listSecrets: {
    method: 'get', path: '/secrets', tag: 'secrets', roles: [], summary: 'The secrets: names and dates, never values',
    response: z.object({ items: z.array(SecretInfo) }),
  },
  removeSecret: {
    method: 'delete', path: '/secrets/:name', tag: 'secrets', roles: [],
    summary: 'Remove a secret; unfinished tasks that refer to it are refused when a worker takes them',
    params: SecretNameParams,
    response: z.object({
      name: z.string(),
      unfinished_tasks: z.number().int().describe('unfinished tasks whose env refers to it'),
      schedules: z.array(z.string()).describe('the names of the schedules whose tasks refer to it: their runs fail until it is set again'),
    }),
  },
  getDockerPolicy: {
    method: 'get', path: '/policy/docker', tag: 'policy', roles: ['operator', 'viewer'],
    summary: "The Docker policy: which container options a task may carry", response: DockerPolicyAnswer,
  },
  putDockerPolicy: {
    method: 'put', path: '/policy/docker', tag: 'policy', roles: [],
    summary: 'Replace the Docker policy (fields left out take their defaults, which refuse)',
    body: DockerPolicy, response: DockerPolicyAnswer,
  },
  stats: {
    method: 'get', path: '/stats', roles: READ, tag: 'overview',
    summary: 'The whole queue at a glance: tasks by status, finishes per minute, workers, the latest failures, why work waits',
    query: StatsQuery, response: Stats,
  },
  openapi: {
    method: 'get', path: '/openapi.json', roles: READ, tag: 'meta', summary: 'This document',
    response: z.record(z.string(), z.unknown()),
  },
} as const satisfies Record<string, RouteSpec>;

export type Routes = typeof routes;
export type RouteName = keyof Routes;

type Field<R, K extends string> = R extends { [P in K]: infer S } ? (S extends z.ZodType ? S : never) : never;
export type RouteParams<N extends RouteName> = z.input<Field<Routes[N], 'params'>>;
/** Query input; comma-separated list parameters may also be given as arrays. */
export type RouteQuery<N extends RouteName> = {
  [K in keyof z.input<Field<Routes[N], 'query'>>]: z.input<Field<Routes[N], 'query'>>[K] | (string extends z.input<Field<Routes[N], 'query'>>[K] ? string[] : never);
};
export type RouteBody<N extends RouteName> = z.input<Field<Routes[N], 'body'>>;
export type RouteResponse<N extends RouteName> = z.output<Field<Routes[N], 'response'>>;

