// The routes of the contract (../api.ts) for workers and their executions: the worker protocol
// (register, poll, reports, output) and their settings.
import { z } from 'zod/v4';
import { PageQuery, page } from '../schemas/common.js';
import { Execution, OutputSize } from '../schemas/execution.js';
import {
  OutputQuery, PatchWorkerBody, PollBody, PollResponse, RegisterWorkerBody, ReportsBody, Worker, WorkerExecution,
  WorkerExecutionsQuery,
} from '../schemas/worker.js';
import { IdParams, READ, STEER, WORKER, type RouteSpec } from './spec.js';

export const workerRoutes = {
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
    summary: 'Bytes of output stored per stream, and the next chunk number of each (a re-attaching worker resumes after them)',
    params: IdParams, response: OutputSize,
  },
  executionOutput: {
    method: 'get', path: '/executions/:id/output', roles: READ, tag: 'executions',
    summary: "An execution's output as text, or with follow=1 as SSE until it ends",
    params: IdParams, query: OutputQuery, response: 'text',
  },
} as const satisfies Record<string, RouteSpec>;
