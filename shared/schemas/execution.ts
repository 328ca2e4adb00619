// An execution is one attempt at running a task; attempts are kept forever.
import { z } from 'zod/v4';
import { Id, Timestamp } from './common.js';

export const EXECUTION_STATUSES = [
  'assigned', 'downloading', 'running', 'uploading', 'succeeded', 'failed', 'lost', 'killed', 'refused', 'cancelled',
] as const;
export const ExecutionStatus = z.enum(EXECUTION_STATUSES);
/** An execution in one of these holds its task and a worker's slot; the task shows the same status. */
export const LIVE_STATUSES = ['assigned', 'downloading', 'running', 'uploading'] as const;
export type LiveStatus = (typeof LIVE_STATUSES)[number];
export const isLive = (status: string): status is LiveStatus => (LIVE_STATUSES as readonly string[]).includes(status);
/**
 * How a worker says an execution ended. (`cancelled` is the server's: an attempt that had
 * not started when its task was edited or held; it never counts as a failure.)
 */
export const EXECUTION_ENDS = ['succeeded', 'failed', 'killed', 'refused'] as const;
export type ExecutionStatus = z.infer<typeof ExecutionStatus>;

export const Execution = z.object({
  id: Id,
  task_id: Id,
  attempt: z.number().int(),
  worker_id: Id,
  status: ExecutionStatus,
  assigned_at: Timestamp,
  downloading_at: Timestamp.nullable(),
  running_at: Timestamp.nullable(),
  uploading_at: Timestamp.nullable(),
  finished_at: Timestamp.nullable(),
  exit_code: z.number().int().nullable(),
  peak_memory_bytes: z.number().int().nullable(),
  error: z.string().nullable(),
  suspended: z.boolean().describe('the last word of a user: suspend (true) or continue (false); its worker applies it while it runs'),
  suspended_at: Timestamp.nullable().describe('when the suspension in force was asked for; null when not suspended'),
  version: z.number().int(),
});
export type Execution = z.infer<typeof Execution>;
