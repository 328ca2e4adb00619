// "Why is it waiting", in Slurm's spirit (squeue's REASON): for a task not running, the
// reasons it is not, the first one the one to act on; for a step, how many of its tasks
// wait for each reason; for a worker, why it takes nothing.
import { z } from 'zod/v4';
import { Id } from './common.js';
import { TaskStatus } from './task.js';

export const TASK_WAIT_REASONS = [
  'running', 'ended', 'held', 'dependencies', 'blocked', 'paused', 'backoff',
  'no_worker_for_tag', 'requirements', 'workers_paused', 'workers_busy', 'queued',
] as const;
export type TaskWaitReason = (typeof TASK_WAIT_REASONS)[number];

export const Reason = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type Reason = z.infer<typeof Reason>;

export const TaskWhy = z.object({
  task_id: Id,
  status: TaskStatus,
  reasons: z.array(Reason.extend({ code: z.enum(TASK_WAIT_REASONS) })).describe('the first is the main one'),
});
export type TaskWhy = z.infer<typeof TaskWhy>;

export const StepWhy = z.object({
  step_id: Id,
  waiting: z.number().int().describe('its tasks that have not started'),
  reasons: z.array(z.object({ code: z.enum(TASK_WAIT_REASONS), count: z.number().int(), message: z.string() }))
    .describe('each not-started task counted once, under its main reason; most frequent first'),
});
export type StepWhy = z.infer<typeof StepWhy>;

export const WORKER_IDLE_REASONS = ['offline', 'draining', 'paused', 'full', 'can_take', 'no_tasks', 'other_tags', 'requirements', 'paused_tasks', 'backoff'] as const;
export const WorkerWhy = z.object({
  worker_id: Id,
  reasons: z.array(Reason.extend({ code: z.enum(WORKER_IDLE_REASONS) })).describe('why it takes no task now; the first is the main one'),
});
export type WorkerWhy = z.infer<typeof WorkerWhy>;
