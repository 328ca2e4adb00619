// Workers: registration, live settings, the poll exchange, and the reports a worker
// sends about its executions.
import { z } from 'zod/v4';
import { MAX_OUTPUT_CHUNK_CHARS } from '../limits.js';
import { Id, onlyWhenValid, Timestamp } from './common.js';
import { EXECUTION_ENDS, ExecutionProgress, PHASES, ExecutionStatus, FAILURE_CLASSES_BY_END, FailureClass } from './execution.js';
import { DockerPolicy } from '../dockerPolicy.js';
import { Tag, Task } from './task.js';

export const WORKER_STATUSES = ['online', 'offline', 'lost'] as const;
export const WorkerStatus = z.enum(WORKER_STATUSES);

const Tags = z.array(Tag).min(1).max(64).refine((t) => new Set(t).size === t.length, 'tags must not repeat');

export const WorkerSettings = z.object({
  concurrency: z.number().int().min(0).max(1024),
  prefetch: z.number().int().min(0).max(1024),
  tags: Tags,
  paused: z.boolean(),
  draining: z.boolean().describe('takes no new task; its daemon leaves once what it runs has ended (a registration clears it)'),
});
export type WorkerSettings = z.infer<typeof WorkerSettings>;

/** The problem title of a poll from an instance that no longer owns its worker: it must register again. */
export const WORKER_TAKEN_OVER = 'Worker taken over';

/** A daemon instance's identity, made once and kept in its state directory. */
export const WorkerInstance = z.uuid().describe('the identity of one worker daemon instance, kept in its state directory');

export const RegisterWorkerBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$/, 'letters, digits and _ . @ : - (at most 128)'),
  instance: WorkerInstance,
  hostname: z.string().min(1).max(255),
  cpus: z.number().positive().max(4096),
  memory_mb: z.number().int().positive().max(1024 ** 3),
  docker: z.boolean(),
  gpus: z.number().int().min(0).max(64).default(0),
  capabilities: z.array(z.string().regex(/^[a-z0-9_.-]{1,64}$/)).max(64).default([]),
  tags: Tags.default(['default']),
  concurrency: z.number().int().min(0).max(1024).default(1),
  prefetch: z.number().int().min(0).max(1024).default(0),
  agent_version: z.string().max(100).optional(),
});
export type RegisterWorkerBody = z.input<typeof RegisterWorkerBody>;

export const PatchWorkerBody = z
  .strictObject({
    concurrency: z.number().int().min(0).max(1024).optional(),
    prefetch: z.number().int().min(0).max(1024).optional(),
    tags: Tags.optional(),
    paused: z.boolean().optional(),
    draining: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, onlyWhenValid('give at least one of concurrency, prefetch, tags, paused, draining'));
export type PatchWorkerBody = z.input<typeof PatchWorkerBody>;

/**
 * What a worker daemon measures on its host, at most every 5 s, and sends in an exchange
 * only when it has a new measure. Not an event: only the latest figures are kept.
 */
export const HostMetrics = z.strictObject({
  load1: z.number().min(0).max(1e6).describe('load average over 1 minute'),
  cpu_percent: z.number().min(0).max(100).describe('CPU use of the whole host, all cores, since the previous measure'),
  memory_used_mb: z.number().int().min(0).max(1024 ** 3),
  memory_total_mb: z.number().int().min(0).max(1024 ** 3),
  running: z.number().int().min(0).max(100_000).describe('executions the daemon was working on (any phase)'),
}).refine((m) => m.memory_used_mb <= m.memory_total_mb, { path: ['memory_used_mb'], message: 'must be at most memory_total_mb' });
export type HostMetrics = z.infer<typeof HostMetrics>;

export const WorkerMetrics = z.object({
  load1: z.number(),
  cpu_percent: z.number(),
  memory_used_mb: z.number().int(),
  memory_total_mb: z.number().int(),
  running: z.number().int(),
  updated_at: Timestamp.describe('when the server received them'),
});
export type WorkerMetrics = z.infer<typeof WorkerMetrics>;

export const Worker = WorkerSettings.extend({
  id: Id,
  name: z.string(),
  instance: z.string().nullable().describe('the daemon instance that registered this worker last'),
  hostname: z.string(),
  cpus: z.number(),
  memory_mb: z.number().int(),
  docker: z.boolean(),
  gpus: z.number().int(),
  capabilities: z.array(z.string()),
  status: WorkerStatus,
  agent_version: z.string().nullable(),
  registered_at: Timestamp,
  updated_at: Timestamp,
  last_seen_at: Timestamp.nullable(),
  live_executions: z.number().int(),
  version: z.number().int(),
  settings_version: z.number().int().describe('changes only when the settings do; what polls compare'),
  metrics: WorkerMetrics.nullable().describe('the latest host figures its daemon sent; null before the first'),
});
export type Worker = z.infer<typeof Worker>;

export const WorkerExecutionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** One execution on a worker's time line. */
export const WorkerExecution = z.object({
  id: Id,
  task_id: Id,
  task_name: z.string().nullable(),
  attempt: z.number().int(),
  status: ExecutionStatus,
  assigned_at: Timestamp,
  running_at: Timestamp.nullable(),
  finished_at: Timestamp.nullable(),
  exit_code: z.number().int().nullable(),
  failure_class: FailureClass.nullable(),
});
export type WorkerExecution = z.infer<typeof WorkerExecution>;

/** Reports of one execution in one request: a worker's spool cuts its batches at this many. */
export const MAX_REPORTS_PER_EXECUTION = 10_000;
/** Characters of an execution's error message; a worker cuts a longer one. */
export const MAX_ERROR_CHARS = 10_000;

export const Report = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('output'), stream: z.enum(['stdout', 'stderr']), seq: z.number().int().min(0).max(2 ** 31 - 1), data: z.base64().max(MAX_OUTPUT_CHUNK_CHARS) }),
  z.strictObject({ kind: z.literal('phase'), phase: z.enum(PHASES) }),
  z.strictObject({
    kind: z.literal('finish'),
    status: z.enum(EXECUTION_ENDS),
    exit_code: z.number().int().min(-(2 ** 31)).max(2 ** 31 - 1).nullable(),
    peak_memory_bytes: z.number().int().min(0).nullable(),
    /** Absent from workers older than failure classes: the server infers it from the status. */
    failure_class: FailureClass.nullable().optional(),
    cpu_seconds: z.number().min(0).max(1e12).nullable().optional(),
    error: z.string().max(MAX_ERROR_CHARS).nullable(),
  }).refine(
    (r) => r.failure_class == null || (FAILURE_CLASSES_BY_END[r.status] as readonly string[]).includes(r.failure_class),
    { path: ['failure_class'], message: 'does not fit the status: succeeded has none; failed is exit, timeout, oom, download or upload; killed is killed; refused is refused' },
  ),
]);
export type Report = z.infer<typeof Report>;

/** What a worker observed about one execution since its last delivered report, in order. */
export const ExecutionReports = z.strictObject({ execution_id: Id, reports: z.array(Report).min(1).max(MAX_REPORTS_PER_EXECUTION) });
export type ExecutionReports = z.infer<typeof ExecutionReports>;

/** What became of one execution's reports: recorded, or refused because the execution is no longer this worker's to report on. */
export const ReportsReceipt = z.object({
  execution_id: Id,
  recorded: z.boolean().describe('false: the execution is no longer live on this worker (lost, ended otherwise, unknown); drop its reports'),
  detail: z.string().nullable(),
});
export type ReportsReceipt = z.infer<typeof ReportsReceipt>;

/**
 * The latest figures of one execution's transfer, as its worker counts them. Not a report:
 * nothing is recorded in the log, only the last figures are kept, and the worker sends them
 * only when they changed, about once a second at most.
 */
export const ProgressReport = ExecutionProgress.omit({ updated_at: true }).extend({ execution_id: Id }).strict()
  .refine((p) => p.bytes_done <= p.bytes_total, { path: ['bytes_total'], message: 'must be at least bytes_done' });
export type ProgressReport = z.infer<typeof ProgressReport>;

/** An order to kill an execution: TERM, then KILL after the grace (seconds from the order). */
export const KillOrder = z.object({ execution_id: Id, grace_seconds: z.number().int().min(0) });
export type KillOrder = z.infer<typeof KillOrder>;

export const PollBody = z.strictObject({
  /** The polling daemon: a poll from an instance that no longer owns the worker is refused. */
  instance: WorkerInstance,
  /**
   * The daemon's poll number, counted from 1 after each registration. A poll it gave up on
   * may still be served after a newer one; with its number below the highest seen, it is
   * refused (409) instead of declaring the newer one's assignments lost. Absent: not checked.
   */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  /**
   * The number of an exchange the daemon gave up on while it was parked, without hanging up,
   * since its last answer: the server process where it is parked answers it at once, with
   * nothing. Absent: none.
   */
  gave_up: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Executions the worker holds: their leases are renewed; any other live one of this worker is lost. */
  holding: z.array(Id).max(10_000).default([]),
  /** How many more tasks the worker takes now; the server also caps it by concurrency + prefetch. */
  want: z.number().int().min(0).max(1024),
  /** The settings version the worker knows: a different one ends a parked poll at once. */
  settings_version: z.number().int().min(0).default(0),
  wait_seconds: z.number().min(0).max(60).default(20),
  /**
   * The kill orders the worker carries out, each with the grace it was last told: an order
   * the server holds with another grace (asked for again, sooner) ends a parked poll, on
   * whichever server process the poll parks; one it already carries out does not.
   */
  kill_orders: z.array(KillOrder).max(10_000).default([]),
  /** From workers older than `kill_orders`: the executions they are killing, whatever the grace, taken as known. */
  killing: z.array(Id).max(10_000).default([]),
  /**
   * Executions the worker holds suspended (as the answers' `suspend` told it): while they
   * match the server's list, that list need not end a parked poll; any change does.
   */
  suspended: z.array(Id).max(10_000).default([]),
  /**
   * The worker's reports for any of its executions, recorded before anything else in the
   * exchange; a poll that carries some is answered at once, with a receipt for each.
   */
  reports: z.array(ExecutionReports).max(10_000).default([])
    .refine((r) => new Set(r.map((x) => x.execution_id)).size === r.length, 'one entry per execution'),
  /**
   * The latest transfer figures of its executions that are downloading or uploading,
   * recorded after the reports; they never make the exchange answer at once. Figures for an
   * execution whose lease this worker does not hold are ignored.
   */
  progress: z.array(ProgressReport).max(10_000).default([])
    .refine((p) => new Set(p.map((x) => x.execution_id)).size === p.length, 'one entry per execution'),
  /** The host's latest figures, when the daemon has a new measure; kept with the worker (GET /workers). */
  metrics: HostMetrics.optional(),
  /**
   * The daemon stops after this exchange (it drained): it takes nothing, the answer comes at
   * once, and the worker shows offline at once instead of after a silence.
   */
  leaving: z.boolean().optional(),
});
export type PollBody = z.input<typeof PollBody>;

export const Assignment = z.object({
  execution_id: Id,
  attempt: z.number().int(),
  task: Task,
  /**
   * The values of the secrets the task's env names, by secret name: what only the worker
   * running it receives. A secret removed since the task was submitted is absent (the worker
   * refuses the execution).
   */
  secrets: z.record(z.string(), z.string()).default({}),
});
export type Assignment = z.infer<typeof Assignment>;

export const PollResponse = z.object({
  assignments: z.array(Assignment),
  /** Executions to kill: TERM, then KILL after the grace. */
  kill: z.array(KillOrder),
  /**
   * The worker's executions that must be suspended now, a desired state: it suspends these
   * (those not started yet as soon as they start) and lets go on any other it suspended.
   */
  suspend: z.array(Id),
  /** Executions the worker holds that are no longer its own (lease expired, lost): stop them, report nothing more. */
  abandon: z.array(Id),
  settings: WorkerSettings,
  settings_version: z.number().int(),
  lease_seconds: z.number().int(),
  /**
   * The output the server keeps of one execution (LABQ_OUTPUT_CAP_BYTES): the worker spools
   * no more than that (and the chunk that passes it, for the server to mark the truncation),
   * so that a runaway task cannot fill its disk while the server is away.
   */
  output_cap_bytes: z.number().int().optional(),
  /** One receipt per entry of the request's `reports`, in its order. */
  reports: z.array(ReportsReceipt),
  /** With assignments: the Docker policy now, which the worker checks a container task's options against before it starts it. */
  docker_policy: DockerPolicy.optional(),
});
export type PollResponse = z.infer<typeof PollResponse>;


/** What a worker observed about one execution, in order: output chunks, phases, the result. */
export const ReportsBody = z.strictObject({ reports: z.array(Report).min(1).max(MAX_REPORTS_PER_EXECUTION) });

export const KillBody = z.strictObject({ grace_seconds: z.number().int().min(0).max(3600).default(10) });

export const OutputQuery = z.object({
  follow: z.enum(['0', '1', 'true', 'false']).optional().describe('1: stream as SSE until the execution ends'),
  stream: z.enum(['stdout', 'stderr']).optional().describe('one stream only'),
});
