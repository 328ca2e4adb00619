// The routes of the contract (../api.ts) for pauses of a workflow, a step or a tag, and why
// work waits.
import { z } from 'zod/v4';
import { StepWhy, TaskWhy, WorkerWhy } from '../schemas/why.js';
import { BulkResult, CancelBody, Pause, PauseBody, PauseResult, QueuePauseBody, QueueResumeBody } from '../schemas/steering.js';
import { IdParams, READ, STEER, type RouteSpec } from './spec.js';

export const steeringRoutes = {
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
} as const satisfies Record<string, RouteSpec>;
