// An execution is one attempt at running a task; attempts are kept forever.
import { z } from 'zod/v4';
import { Id, Timestamp } from './common.js';

export const EXECUTION_STATUSES = [
  'assigned', 'downloading', 'ready', 'running', 'uploading', 'succeeded', 'failed', 'lost', 'killed', 'refused', 'cancelled',
] as const;
export const ExecutionStatus = z.enum(EXECUTION_STATUSES);
/**
 * An execution in one of these holds its task and a worker's slot; the task shows the same
 * status. In the order of a life: a phase is only ever followed by a later one. `ready`: its
 * inputs and resources are in place (claimed ahead of a free slot, by --prefetch) and it
 * waits for a run slot.
 */
export const LIVE_STATUSES = ['assigned', 'downloading', 'ready', 'running', 'uploading'] as const;
export type LiveStatus = (typeof LIVE_STATUSES)[number];
/** The phases a worker reports, as they begin: every live status but the `assigned` it starts in. */
export const PHASES = ['downloading', 'ready', 'running', 'uploading'] as const satisfies readonly LiveStatus[];
export type Phase = (typeof PHASES)[number];
/** Live, but its process not started: the task can still be held or edited, its attempt cancelled. */
export const NOT_STARTED = ['assigned', 'downloading', 'ready'] as const satisfies readonly LiveStatus[];
export const isLive = (status: string): status is LiveStatus => (LIVE_STATUSES as readonly string[]).includes(status);
/**
 * How a worker says an execution ended. (`cancelled` is the server's: an attempt that had
 * not started when its task was edited or held; it never counts as a failure.)
 */
export const EXECUTION_ENDS = ['succeeded', 'failed', 'killed', 'refused'] as const;
export type ExecutionStatus = z.infer<typeof ExecutionStatus>;

/**
 * Why an attempt failed: `exit` (the command ended with a non-zero code), `timeout` (the run
 * timeout), `oom` (killed by the kernel at its memory limit), `lost` (its worker stopped
 * answering), `killed` (stopped by a kill), `download` / `upload` (an input, resource or the
 * output could not be transferred), `refused` (it could not start: bad image, bad options).
 */
export const FAILURE_CLASSES = ['exit', 'timeout', 'oom', 'lost', 'killed', 'download', 'upload', 'refused'] as const;
export const FailureClass = z.enum(FAILURE_CLASSES);
export type FailureClass = z.infer<typeof FailureClass>;
/** The classes a worker may report for each way an execution ends; `lost` is the server's to say. */
export const FAILURE_CLASSES_BY_END = {
  succeeded: [],
  failed: ['exit', 'timeout', 'oom', 'download', 'upload'],
  killed: ['killed'],
  refused: ['refused'],
} as const satisfies Record<(typeof EXECUTION_ENDS)[number], readonly FailureClass[]>;

/** The phases that move data, whose progress in bytes a worker reports. */
export const TRANSFER_PHASES = ['downloading', 'uploading'] as const;
export const TransferPhase = z.enum(TRANSFER_PHASES);
export type TransferPhase = z.infer<typeof TransferPhase>;

/** How often a worker sends an execution's transfer figures: also how often a view that shows them reads them again. */
export const PROGRESS_INTERVAL_MS = 1000;

/** Bytes are counted past 2^32, never past what a JSON number holds exactly. */
const Bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const ExecutionProgress = z.object({
  phase: TransferPhase,
  bytes_done: Bytes.describe('bytes moved so far in this phase'),
  bytes_total: Bytes.describe('bytes known so far to make up this phase (it grows as files are found), bytes_done included'),
  updated_at: Timestamp.describe('when the server received these figures'),
});
export type ExecutionProgress = z.infer<typeof ExecutionProgress>;

export const Execution = z.object({
  id: Id,
  task_id: Id,
  attempt: z.number().int(),
  worker_id: Id,
  worker_name: z.string().nullable().describe('the name of its worker'),
  status: ExecutionStatus,
  assigned_at: Timestamp,
  downloading_at: Timestamp.nullable(),
  ready_at: Timestamp.nullable().describe('when its downloads ended while it waited for a run slot (claimed ahead, by --prefetch); null when it never waited so'),
  running_at: Timestamp.nullable(),
  uploading_at: Timestamp.nullable(),
  finished_at: Timestamp.nullable(),
  exit_code: z.number().int().nullable(),
  peak_memory_bytes: z.number().int().nullable(),
  cpu_seconds: z.number().nullable().describe('CPU time the attempt used (user + system), when measured'),
  failure_class: FailureClass.nullable().describe('why the attempt failed; null while live and when it succeeded'),
  error: z.string().nullable(),
  suspended: z.boolean().describe('the last word of a user: suspend (true) or continue (false); its worker applies it while it runs'),
  suspended_at: Timestamp.nullable().describe('when the suspension in force was asked for; null when not suspended'),
  progress: ExecutionProgress.nullable().describe("the transfer's latest figures while the execution is downloading or uploading; null otherwise"),
  version: z.number().int(),
});
export type Execution = z.infer<typeof Execution>;

const PerStream = z.object({ stdout: z.number().int(), stderr: z.number().int() });

/**
 * How much of an execution's output the server holds: bytes per stream (the truncation mark
 * not counted), whether the cap was hit, and the chunk number each stream goes on from
 * (every number up to it was seen, stored or dropped). A re-attaching worker resumes after both.
 */
export const OutputSize = PerStream.extend({ truncated: z.boolean(), next_seq: PerStream });
export type OutputSize = z.infer<typeof OutputSize>;
