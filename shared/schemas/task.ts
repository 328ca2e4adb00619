// The task: what a user submits (TaskInput), what the API returns (Task), and the list
// filters. Field names follow ../shared/DESIGN.md ("The task, as curl sends it").
import { z } from 'zod/v4';
import { parseDestination, parseResource, parseSource, sameLandings, type UriResult } from '../uri.js';
import { Id, IdParam, Timestamp, csv, csvIds, PageQuery, SearchText, onlyWhenValid } from './common.js';
import { MAX_COMMAND_CHARS, MAX_ENV_CHARS, MAX_ENV_VALUE_CHARS, MAX_ENV_VARS, MAX_TASKS_PER_REQUEST } from '../limits.js';
import { FAILURE_CLASSES, FailureClass } from './execution.js';
import { SecretRef } from './secret.js';

export const TASK_STATUSES = [
  'waiting', 'blocked', 'held', 'pending', 'assigned', 'downloading', 'ready', 'running', 'uploading',
  'succeeded', 'failed', 'cancelled',
] as const;
export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;
/** A task in one of these is over: no execution of it will start unless someone relaunches it. */
export const FINAL_TASK_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;
/** A task in one of these has no execution yet. */
export const UNSTARTED_TASK_STATUSES = ['waiting', 'blocked', 'held', 'pending'] as const;
/** A task in one of these has not ended: a pause covers it. */
export const UNFINISHED_TASK_STATUSES = TASK_STATUSES.filter((s) => !(FINAL_TASK_STATUSES as readonly string[]).includes(s));

/**
 * Why a task not started waits, its main reason (what GET /stats and a step's why count it
 * under), in the order a task meets them: its status first, then its pause and backoff, then
 * the online workers that could take it.
 */
export const WAITING_REASONS = [
  'held', 'dependencies', 'blocked', 'paused', 'backoff', 'no_worker_for_tag', 'requirements', 'workers_paused', 'workers_busy', 'queued',
] as const;
export type WaitingReasonCode = (typeof WAITING_REASONS)[number];
export const isFinalTask = (status: string): boolean => (FINAL_TASK_STATUSES as readonly string[]).includes(status);

const uriOf = (parse: (text: string) => UriResult<unknown>) => z.string().max(4096).superRefine((s, ctx) => {
  const r = parse(s);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error });
});
export const InputUri = uriOf(parseSource);
export const ResourceUri = uriOf(parseResource);
export const OutputUri = uriOf(parseDestination);

export const Tag = z
  .string()
  .regex(/^(\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/, 'a tag is `*` or letters, digits, `_`, `.`, `-` (at most 64)');

export const ContainerImage = z
  .string()
  .regex(/^[a-z0-9][a-zA-Z0-9._\/:@-]{0,511}$/, 'a Docker image reference, e.g. biocontainers/bwa:0.7.17');
export const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name');
export const EnvValue = z.string().max(MAX_ENV_VALUE_CHARS);
/** A value, or `{"secret": "name"}`: the worker receives the secret's value with the assignment, and nothing else ever shows it. */
export const EnvEntry = z.union([EnvValue, SecretRef]);
export type EnvEntry = z.infer<typeof EnvEntry>;
/** A task's variables; the total counts names and the values given as text (a secret's value is bounded when it is set). */
export const Env = z.record(EnvName, EnvEntry)
  .refine((env) => Object.keys(env).length <= MAX_ENV_VARS, `at most ${MAX_ENV_VARS} variables`)
  .refine(
    (env) => Object.entries(env).reduce((n, [name, value]) => n + name.length + (typeof value === 'string' ? value.length : 0), 0) <= MAX_ENV_CHARS,
    `names and values may take at most ${MAX_ENV_CHARS} characters in all`,
  );

const Seconds = z.number().int().positive().max(30 * 24 * 3600);

export const Timeouts = z.strictObject({
  download: Seconds.optional(),
  run: Seconds.optional(),
  upload: Seconds.optional(),
});

const MemoryMb = z.number().int().positive().max(64 * 1024 * 1024);

/** What a task needs of its worker; `memory_mb` is the requirement of the current attempt. */
export const Requirements = z.strictObject({
  cpus: z.number().positive().max(1024).optional(),
  memory_mb: MemoryMb.optional(),
  gpus: z.number().int().min(0).max(64).optional(),
  capabilities: z.array(z.string().regex(/^[a-z0-9_.-]{1,64}$/)).max(32).optional(),
});
export type Requirements = z.infer<typeof Requirements>;

/** The longest memory curve a task may give. */
export const MAX_MEMORY_CURVE = 16;

/** As submitted: `memory_mb` may be a curve, the requirement of each attempt after an `oom` failure. */
export const RequirementsInput = Requirements.extend({
  memory_mb: z.union([
    MemoryMb,
    z.array(MemoryMb).min(1).max(MAX_MEMORY_CURVE)
      .refine((curve) => curve.every((mb, i) => i === 0 || mb > curve[i - 1]!), 'a memory curve must increase')
      .describe('a memory curve: the first attempt needs the first value, each retry after an `oom` failure the next one'),
  ]).optional(),
});

/** Failures retried when a task does not say: all but `refused` (it would fail the same way) and `killed` (someone meant it). */
export const DEFAULT_RETRY_ON: FailureClass[] = FAILURE_CLASSES.filter((c) => c !== 'refused' && c !== 'killed');

const BackoffSeconds = z.number().int().min(0).max(7 * 24 * 3600);
/**
 * The wait before retry n (n = 1 after the first failure) is min(cap, base × 2^(n−1)).
 * Losses are retried at once: the worker failed, not the task.
 */
export const Backoff = z.strictObject({
  base_seconds: BackoffSeconds.describe('the wait before the first retry; 0 retries at once'),
  cap_seconds: BackoffSeconds.describe('the longest wait between two attempts'),
}).refine((b) => b.cap_seconds >= b.base_seconds, { path: ['cap_seconds'], message: 'must be at least base_seconds' });
export type Backoff = z.infer<typeof Backoff>;
export const DEFAULT_BACKOFF: Backoff = { base_seconds: 10, cap_seconds: 600 };

const RetryOn = z.array(FailureClass).max(FAILURE_CLASSES.length)
  .refine((c) => new Set(c).size === c.length, 'failure classes must not repeat');

/** Why an input is refused for landing where inputs[earlier] does: said the same at a submit and at a sweep's substitution. */
export const sameLandingMessage = (name: string, earlier: number): string =>
  `lands in the input folder as ${name}, as inputs[${earlier}] does: one would replace the other (rename one at its source, or take it as a resource with |mv:DIR)`;

export const TaskInput = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  command: z.string().min(1, 'must not be empty').max(MAX_COMMAND_CHARS),
  shell: z
    .string()
    .regex(/^[A-Za-z0-9_.\/-]{1,200}$/, 'a program name or path, e.g. sh, bash, python3')
    .default('sh'),
  container: ContainerImage.nullable().optional(),
  container_options: z.array(z.string().min(1).max(1000)).max(100).default([]),
  // Refined inside the default, so that an edit (which unwraps it) checks the same.
  inputs: z.array(InputUri).max(10_000).superRefine((inputs, ctx) => {
    for (const { index, earlier, name } of sameLandings(inputs)) {
      ctx.addIssue({
        code: 'custom', path: [index],
        message: sameLandingMessage(name, earlier),
      });
    }
  }).default([]),
  resources: z.array(ResourceUri).max(1000).default([]),
  output: OutputUri.nullable().optional(),
  workflow_id: Id.optional(),
  step_id: Id.optional(),
  tag: Tag.default('default'),
  priority: z.number().int().min(-1000).max(1000).default(0),
  depends_on: z
    .array(Id)
    .max(10_000)
    .default([])
    .refine((ids) => new Set(ids).size === ids.length, 'task ids must not repeat'),
  depends_on_steps: z
    .array(Id)
    .max(100)
    .default([])
    .refine((ids) => new Set(ids).size === ids.length, 'step ids must not repeat')
    .describe('wait for every task these steps hold when this task is submitted (they join depends_on)'),
  max_retries: z.number().int().min(0).max(100).default(0),
  retry_on: RetryOn.default(DEFAULT_RETRY_ON).describe('the failure classes that are retried (up to max_retries)'),
  backoff: Backoff.default(DEFAULT_BACKOFF),
  timeouts: Timeouts.default({}),
  env: Env.default({})
    .describe('environment variables: a value, or {"secret": "name"} for a secret set with `labq secret set`'),
  requirements: RequirementsInput.default({}),
  key: z.string().min(1).max(200).optional(),
  held: z.boolean().default(false).describe('submit in `held` state: not run until released'),
  accept_failure: z.boolean().default(false)
    .describe('run once every dependency has ended, even if some failed or were cancelled (default: only after they all succeed)'),
});
export type TaskInput = z.input<typeof TaskInput>;
export type TaskDefinition = z.output<typeof TaskInput>;

export const SubmitTasksBody = z.union([
  z.strictObject({ tasks: z.array(TaskInput).min(1).max(MAX_TASKS_PER_REQUEST) }),
  TaskInput,
]);

export const Task = z.object({
  id: Id,
  name: z.string().nullable(),
  command: z.string(),
  shell: z.string(),
  container: z.string().nullable(),
  container_options: z.array(z.string()),
  inputs: z.array(z.string()),
  resources: z.array(z.string()),
  output: z.string().nullable(),
  workflow_id: Id.nullable(),
  step_id: Id.nullable(),
  tag: z.string(),
  priority: z.number().int(),
  depends_on: z.array(Id),
  max_retries: z.number().int(),
  retry_on: z.array(FailureClass),
  backoff: Backoff,
  timeouts: Timeouts,
  env: z.record(z.string(), z.union([z.string(), SecretRef])).describe('values, and references to secrets (never their values)'),
  requirements: Requirements,
  memory_curve: z.array(z.number().int()).nullable().describe('the memory curve as submitted; null when memory_mb was one value'),
  key: z.string().nullable(),
  parameters: z
    .record(z.string(), z.string())
    .nullable()
    .describe("the task's parameters when a sweep made it (each also in its env), else null"),
  status: TaskStatus,
  paused: z.boolean().describe('a pause of its workflow, step, tag or of everything keeps it from being claimed'),
  accept_failure: z.boolean(),
  attempts: z.number().int(),
  retry_at: Timestamp.nullable().describe('a pending task backing off after a failure is not run before this time'),
  retry_base: z.number().int().describe('failures of attempts up to this one no longer count against max_retries'),
  execution_id: Id.nullable(),
  submitted_at: Timestamp,
  submitted_by: z.string().nullable(),
  updated_at: Timestamp,
  version: z.number().int(),
});
export type Task = z.infer<typeof Task>;

/** A task in a list, with its latest attempt in brief (as sacct shows a job). */
export const TaskListItem = Task.extend({
  latest: z.object({
    execution_id: Id,
    status: z.string(),
    worker_id: Id,
    worker_name: z.string().nullable(),
    exit_code: z.number().int().nullable(),
    running_at: Timestamp.nullable(),
    finished_at: Timestamp.nullable(),
    /** From its start (or its assignment, if it never ran) to its end, or to now while it runs. */
    duration_seconds: z.number().nullable(),
  }).nullable().describe('the latest attempt; null if it never had one'),
});
export type TaskListItem = z.infer<typeof TaskListItem>;

export const SubmittedTask = z.object({
  id: Id,
  key: z.string().nullable(),
  status: TaskStatus,
  created: z.boolean().describe('false when an existing task with the same key was returned'),
});
export const SubmitTasksResponse = z.object({ tasks: z.array(SubmittedTask) });
export type SubmitTasksResponse = z.infer<typeof SubmitTasksResponse>;

/**
 * Which tasks an operation or a list concerns: every criterion given must hold. One shape for
 * the list's query parameters and the bulk operations' `filter`.
 */
export interface TaskFilter {
  ids?: number[];
  workflow_id?: number;
  step_id?: number;
  status?: TaskStatus[];
  tag?: string;
  q?: string;
  /** The worker of the task's latest attempt. */
  worker_id?: number;
  /** The failure class of the task's latest attempt. */
  failure_class?: FailureClass[];
  /** Not started, and waiting for this main reason now. */
  reason?: WaitingReasonCode;
}
const filterText = {
  tag: Tag.optional(),
  q: SearchText.optional().describe('text contained in the command (case-insensitive)'),
};
const LATEST_WORKER = 'the worker that ran (or runs) the latest attempt';
const LATEST_FAILURE = 'the failure class of the latest attempt, one of: ' + FAILURE_CLASSES.join(', ');
const REASON = 'tasks not started whose main reason to wait is this one now, as GET /stats and GET /steps/{id}/why count them';
const WaitingReasonCode = z.enum(WAITING_REASONS);

/** The filter as query parameters: one set for the list and its count. */
export const TaskFilterQuery = z.object({
  ids: csvIds.optional().describe('comma-separated task ids (at most 1,000)'),
  status: csv(TaskStatus).optional(),
  workflow_id: z.coerce.number().int().positive().optional(),
  step_id: z.coerce.number().int().positive().optional(),
  ...filterText,
  worker_id: IdParam.optional().describe(LATEST_WORKER),
  failure_class: csv(FailureClass).optional().describe(`comma-separated: ${LATEST_FAILURE}`),
  reason: WaitingReasonCode.optional().describe(REASON),
});
export type TaskFilterQuery = z.input<typeof TaskFilterQuery>;

/**
 * The orders of the task list: a field, descending with a leading `-`. Ties go by id, in
 * the same direction, so that every order is total and a cursor can resume it.
 */
export const TASK_SORTS = [
  'id', '-id', 'priority', '-priority', 'submitted_at', '-submitted_at', 'updated_at', '-updated_at', 'status', '-status',
] as const;
export const TaskSort = z.enum(TASK_SORTS);
export type TaskSort = z.infer<typeof TaskSort>;
/** The deepest a list may be read by offset; further on, follow cursors. */
export const MAX_TASK_OFFSET = 10_000_000;

export const TaskListQuery = PageQuery.extend({
  ...TaskFilterQuery.shape,
  sort: TaskSort.default('id')
    .describe('the order: a field, descending with a leading `-`; ties go by id in the same direction; `status` follows the life of a task (waiting first, cancelled last)'),
  offset: z.coerce.number().int().min(0).max(MAX_TASK_OFFSET).optional()
    .describe('skip this many tasks of the order (not with `cursor`); next_cursor then goes on from the page read'),
});
export type TaskListQuery = z.input<typeof TaskListQuery>;

/** The largest number of ids a filter may list. */
export const MAX_FILTER_IDS = 100_000;

export const TaskFilterBody = z
  .strictObject({
    ids: z.array(Id).min(1).max(MAX_FILTER_IDS).optional(),
    workflow_id: Id.optional(),
    step_id: Id.optional(),
    status: z.array(TaskStatus).min(1).max(TASK_STATUSES.length).optional(),
    ...filterText,
    worker_id: Id.optional().describe(LATEST_WORKER),
    failure_class: z.array(FailureClass).min(1).max(FAILURE_CLASSES.length).optional().describe(LATEST_FAILURE),
    reason: WaitingReasonCode.optional().describe(REASON),
    all: z.literal(true).optional().describe('every task: required when no other criterion is given'),
  })
  .refine((f) => Object.keys(f).length > 0, onlyWhenValid('give at least one of ids, workflow_id, step_id, status, tag, q, worker_id, failure_class, reason, or "all": true'))
  .transform(({ all: _, ...filter }): TaskFilter => filter);
export type TaskFilterBody = z.input<typeof TaskFilterBody>;
