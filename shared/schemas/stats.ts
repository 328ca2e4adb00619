// The overview of the whole queue in one answer: tasks by status, what finished minute by
// minute, the workers, the latest failures and why the work not started waits.
import { z } from 'zod/v4';
import { Id, Timestamp } from './common.js';
import { FailureClass } from './execution.js';
import { WaitingReason } from './why.js';
import { TaskCounts } from './workflow.js';

export const MAX_STATS_MINUTES = 1440;

export const StatsQuery = z.object({
  minutes: z.coerce.number().int().min(1).max(MAX_STATS_MINUTES).default(60).describe('how many minutes finished_per_minute covers, up to now'),
});

export const FinishedMinute = z.object({
  minute: Timestamp.describe('the start of the minute'),
  succeeded: z.number().int().describe('executions that succeeded in this minute'),
  failed: z.number().int().describe('executions that failed in this minute, whatever the class (exit, timeout, oom, lost, killed, download, upload, refused)'),
});

export const RecentFailure = z.object({
  task_id: Id,
  task_name: z.string().nullable(),
  execution_id: Id,
  attempt: z.number().int(),
  failure_class: FailureClass,
  exit_code: z.number().int().nullable(),
  error: z.string().nullable().describe('the first 300 characters of the error'),
  worker_id: Id,
  worker_name: z.string().nullable(),
  finished_at: Timestamp,
});

export const Stats = z.object({
  counts: TaskCounts,
  finished_per_minute: z.array(FinishedMinute).describe('one entry per minute, oldest first, the current minute last; minutes without any finish are 0'),
  workers: z.object({
    online: z.number().int(),
    offline: z.number().int(),
    lost: z.number().int(),
    slots: z.number().int().describe('concurrency + prefetch of the online workers that are not paused'),
    busy: z.number().int().describe('live executions of those workers'),
  }),
  recent_failures: z.array(RecentFailure).describe('the latest 20 failed executions, latest first'),
  waiting: z.array(WaitingReason)
    .describe('every task not started yet, counted once under its main reason (as GET /steps/{id}/why), most frequent first'),
  waiting_estimated: z.boolean()
    .describe('true when the pending tasks were too many to read them all: their split by reason is that of the oldest 10,000, scaled to their number'),
});
export type Stats = z.infer<typeof Stats>;
