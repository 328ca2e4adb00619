// "Why is it waiting", in Slurm's spirit (squeue's REASON): for a task not running, the
// reasons it is not, the first one the one to act on; for a step, how many of its tasks
// wait for each reason; for a worker, why it takes nothing.
import { z } from 'zod/v4';
import { Id } from './common.js';
import { TaskStatus, WAITING_REASONS } from './task.js';

export const TASK_WAIT_REASONS = ['running', 'ended', ...WAITING_REASONS] as const;
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

/** Most messages a waiting reason lists; `more_messages` counts the others. */
export const WAITING_MESSAGES_SAID = 3;

/**
 * Tasks not started, counted under their main reason: a step's why and the overview's.
 * Tasks under one reason may wait for different things (a tag no worker takes, one message
 * per tag), so a reason has a list of messages, not one string that runs them together.
 */
export const WaitingReason = z.object({
  code: z.enum(TASK_WAIT_REASONS),
  count: z.number().int(),
  messages: z.array(z.string()).min(1).max(WAITING_MESSAGES_SAID)
    .describe(`what its tasks wait for, each said once, that of the most tasks first; at most ${WAITING_MESSAGES_SAID}`),
  more_messages: z.number().int().min(0).describe('how many other messages its tasks give, not listed'),
});
export type WaitingReason = z.infer<typeof WaitingReason>;

export const StepWhy = z.object({
  step_id: Id,
  waiting: z.number().int().describe('its tasks that have not started'),
  reasons: z.array(WaitingReason).describe('each not-started task counted once, under its main reason; most frequent first'),
});
export type StepWhy = z.infer<typeof StepWhy>;

export const WORKER_IDLE_REASONS = ['offline', 'draining', 'paused', 'full', 'can_take', 'no_tasks', 'other_tags', 'requirements', 'paused_tasks', 'backoff'] as const;
export const WorkerWhy = z.object({
  worker_id: Id,
  reasons: z.array(Reason.extend({ code: z.enum(WORKER_IDLE_REASONS) })).describe('why it takes no task now; the first is the main one'),
});
export type WorkerWhy = z.infer<typeof WorkerWhy>;
