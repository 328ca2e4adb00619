// The event catalogue: every event type labq writes, with the schema of its data. The
// server validates each event against it before appending, so the log only ever holds
// shapes listed here; readers of the log (projections, SSE clients, auditors) can rely
// on them. Adding a field is fine; changing the meaning of one needs a new type.
import { z } from 'zod/v4';
import { Role } from './schemas/auth.js';
import { DockerPolicy } from './dockerPolicy.js';
import { Id } from './schemas/common.js';
import { FailureClass, PHASES } from './schemas/execution.js';
import { Task, TaskStatus } from './schemas/task.js';

/** `queue` has one stream (id 0): pauses of everything or of a tag. `policy` has one stream per policy (POLICY_STREAMS). */
export const STREAM_TYPES = ['workflow', 'step', 'task', 'execution', 'worker', 'token', 'queue', 'user', 'session', 'secret', 'policy', 'schedule'] as const;
export type StreamType = (typeof STREAM_TYPES)[number];

const nullableString = z.string().nullable();
const PauseData = z.object({ signal: z.enum(['none', 'suspend', 'term', 'kill']), grace_seconds: z.number().int() });

export const TaskSubmittedData = Task.pick({
  name: true, command: true, shell: true, container: true, container_options: true, inputs: true, resources: true,
  output: true, workflow_id: true, step_id: true, tag: true, priority: true, depends_on: true, max_retries: true,
  timeouts: true, env: true, requirements: true, key: true, status: true,
  // Absent from tasks submitted before retry policies: they read as the defaults.
  retry_on: true, backoff: true, memory_curve: true,
}).extend({
  accept_failure: z.boolean().optional(),
  /** The steps whose tasks joined depends_on at submission. */
  depends_on_steps: z.array(Id).optional(),
  // Absent from tasks not made by a sweep, and from every event written before sweeps existed.
  parameters: z.record(z.string(), z.string()).optional(),
});
export type TaskSubmittedData = z.infer<typeof TaskSubmittedData>;

/** The stream id of each policy an admin sets. */
export const POLICY_STREAMS = { docker: 1 } as const;

/** The schedule fields an event carries whole (schedule.created) or in part (schedule.edited). */
const ScheduleFields = z.object({
  name: z.string(), cron: z.string(), timezone: z.string(), context: z.record(z.string(), z.string()),
  submit: z.record(z.string(), z.json()), workflow_id: Id.nullable(), step_id: Id.nullable(),
  catch_up: z.enum(['skip', 'run_once']), overlap: z.enum(['allow', 'skip', 'queue']),
});
/** Every schedule event says when the clock fires the schedule next (null: not while disabled), so a rebuild needs no clock. */
const NextDue = { next_due_at: nullableString };

export const EVENT_CATALOGUE = {
  'workflow.created': {
    stream: 'workflow',
    data: z.object({ name: z.string(), description: nullableString }),
  },
  'step.created': {
    stream: 'step',
    data: z.object({ workflow_id: Id, name: z.string(), description: nullableString }),
  },
  'workflow.paused': { stream: 'workflow', data: PauseData },
  'workflow.resumed': { stream: 'workflow', data: z.object({}) },
  'step.paused': { stream: 'step', data: PauseData },
  'step.resumed': { stream: 'step', data: z.object({}) },
  'queue.paused': { stream: 'queue', data: PauseData.extend({ tag: nullableString }) },
  'queue.resumed': { stream: 'queue', data: z.object({ tag: nullableString }) },
  'task.submitted': { stream: 'task', data: TaskSubmittedData },
  /** Held → back in the queue, or a waiting task whose dependencies are done; `status` absent means pending. */
  'task.released': { stream: 'task', data: z.object({ reason: z.string(), status: z.enum(['pending', 'waiting', 'blocked']).optional() }) },
  'task.held': { stream: 'task', data: z.object({ reason: z.string() }) },
  'task.blocked': { stream: 'task', data: z.object({ dependency: Id }) },
  /** A blocked task waits again: the dependency that blocked it was relaunched. */
  'task.unblocked': { stream: 'task', data: z.object({ dependency: Id }) },
  /** A task released (pending, not started) whose dependency was relaunched: it waits for it again. */
  'task.unreleased': { stream: 'task', data: z.object({ dependency: Id }) },
  'task.cancelled': { stream: 'task', data: z.object({ reason: z.string() }) },
  /** The fields that changed, with their values before and after; `paused` follows a new tag. */
  'task.edited': {
    stream: 'task',
    data: z.object({ before: z.record(z.string(), z.json()), after: z.record(z.string(), z.json()), paused: z.boolean() }),
  },
  /** A new attempt: failures before it no longer count against max_retries. */
  'task.relaunched': {
    stream: 'task',
    data: z.object({ reason: z.string(), status: z.enum(['pending', 'waiting', 'blocked']), retry_base: z.number().int(), paused: z.boolean() }),
  },
  'worker.registered': {
    stream: 'worker',
    data: z.object({
      name: z.string(), instance: z.string(), hostname: z.string(), cpus: z.number(), memory_mb: z.number().int(), docker: z.boolean(),
      gpus: z.number().int(), capabilities: z.array(z.string()), tags: z.array(z.string()),
      concurrency: z.number().int(), prefetch: z.number().int(), agent_version: nullableString,
      /**
       * The worker token registering it, which is bound to it from then on; null when an
       * admin token registered it (a binding it had stays). Absent in events written before bindings.
       */
      token_id: Id.nullable().optional(),
    }),
  },
  'worker.settings_changed': {
    stream: 'worker',
    data: z.object({
      concurrency: z.number().int().optional(), prefetch: z.number().int().optional(),
      tags: z.array(z.string()).optional(), paused: z.boolean().optional(),
      /** Absent in events written before draining existed. */
      draining: z.boolean().optional(),
    }),
  },
  'worker.status_changed': { stream: 'worker', data: z.object({ status: z.enum(['online', 'offline', 'lost']) }) },
  /** Out of the list; its row and its executions' worker_id stay, and a registration under its name revives it. */
  'worker.deleted': { stream: 'worker', data: z.object({ name: z.string(), status: z.enum(['offline', 'lost']) }) },
  'execution.assigned': {
    stream: 'execution',
    data: z.object({
      task_id: Id, worker_id: Id, worker_name: z.string(), attempt: z.number().int(),
      command: z.string(), shell: z.string(), container: nullableString, launched_by: nullableString,
    }),
  },
  'execution.phase': {
    stream: 'execution',
    data: z.object({ task_id: Id, phase: z.enum(PHASES) }),
  },
  'execution.finished': {
    stream: 'execution',
    data: z.object({
      task_id: Id, status: z.enum(['succeeded', 'failed', 'killed', 'refused']), exit_code: z.number().int().nullable(),
      peak_memory_bytes: z.number().int().nullable(), error: nullableString, task_status: TaskStatus,
      // Absent from events written before failure classes: a failure then reads as exit, refused or killed by its status.
      failure_class: FailureClass.nullable(), cpu_seconds: z.number().nullable(),
      /** When the task goes back to pending: not before this time (null: at once). */
      retry_at: nullableString.optional(),
      /** When the task goes back to pending: the memory requirement of its next attempt, when it changes (after `oom`). */
      memory_mb: z.number().int().nullable().optional(),
    }),
  },
  'execution.lost': {
    stream: 'execution',
    data: z.object({
      task_id: Id, reason: z.string(), task_status: TaskStatus,
      failure_class: z.literal('lost'), retry_at: nullableString,
    }),
  },
  'execution.kill_requested': {
    stream: 'execution',
    data: z.object({ task_id: Id, grace_seconds: z.number().int(), requeue: z.boolean().optional(), reason: z.string().optional() }),
  },
  /** An attempt that had not started when its task was edited or held: the task goes on without it. */
  'execution.cancelled': {
    stream: 'execution',
    data: z.object({ task_id: Id, reason: z.string(), task_status: TaskStatus }),
  },
  // The state the user asks for, not what the worker did: its worker applies the latest.
  'execution.suspend_requested': { stream: 'execution', data: z.object({ task_id: Id }) },
  'execution.continue_requested': { stream: 'execution', data: z.object({ task_id: Id }) },
  'token.revoked': { stream: 'token', data: z.object({ name: z.string() }) },
  // A secret's name only: its value never enters the log. A secret set again keeps its stream.
  'secret.set': { stream: 'secret', data: z.object({ name: z.string(), replaced: z.boolean() }) },
  'secret.removed': { stream: 'secret', data: z.object({ name: z.string() }) },
  /** The whole policy before and after; `old` is the defaults the first time. */
  'policy.changed': { stream: 'policy', data: z.object({ policy: z.literal('docker'), old: DockerPolicy, new: DockerPolicy }) },
  'token.created': {
    stream: 'token',
    // expires_at absent: the token never expires (and every token made before expiry existed).
    data: z.object({ name: z.string(), role: z.string(), expires_at: nullableString.optional() }),
  },
  // Accounts: never a password, a hash or a session value (sql/0021_accounts.sql).
  'user.created': { stream: 'user', data: z.object({ name: z.string(), role: Role }) },
  'user.password_changed': { stream: 'user', data: z.object({ name: z.string() }) },
  'user.role_changed': { stream: 'user', data: z.object({ name: z.string(), old: Role, new: Role }) },
  'user.removed': { stream: 'user', data: z.object({ name: z.string() }) },
  /** A login: the stream is the session, so that concurrent logins of one user never race on a version. */
  'session.opened': { stream: 'session', data: z.object({ name: z.string(), user_id: Id }) },
  /** A logout, or every session of a user whose password changed or who was removed; an expiry writes nothing. */
  'session.closed': { stream: 'session', data: z.object({ name: z.string(), reason: z.enum(['logout', 'password_changed', 'user_removed']) }) },
  'schedule.created': { stream: 'schedule', data: ScheduleFields.extend({ enabled: z.boolean(), ...NextDue }) },
  /** The fields that changed, with their values before and after. */
  'schedule.edited': { stream: 'schedule', data: z.object({ old: ScheduleFields.partial(), new: ScheduleFields.partial(), ...NextDue }) },
  'schedule.enabled': { stream: 'schedule', data: z.object(NextDue) },
  'schedule.disabled': { stream: 'schedule', data: z.object({}) },
  'schedule.deleted': { stream: 'schedule', data: z.object({ name: z.string() }) },
  /** A run: `by` is 'clock' or the user or token that asked for it; `context` is the one it used, defaults and overrides merged. */
  'schedule.fired': {
    stream: 'schedule',
    data: z.object({
      due_at: z.string(), fired_at: z.string(), by: z.string(), context: z.record(z.string(), z.string()), task_ids: z.array(Id),
      /** A run held back by overlap `queue`: it fires late, when the previous run has ended. */
      queued: z.boolean().optional(),
      ...NextDue,
    }),
  },
  /**
   * A due time not run: the previous run was live (overlap), the server was down over it
   * (catch_up: `missed` due times from due_at to last_due_at), or its submission was refused (failed: detail says why).
   */
  'schedule.skipped': {
    stream: 'schedule',
    data: z.object({
      due_at: z.string(), reason: z.enum(['overlap', 'catch_up', 'failed']), missed: z.number().int().optional(),
      last_due_at: z.string().optional(), detail: z.string().optional(), ...NextDue,
    }),
  },
  /** A due time held back (overlap `queue`) until the previous run's tasks have ended. */
  'schedule.queued': { stream: 'schedule', data: z.object({ due_at: z.string(), ...NextDue }) },
} as const satisfies Record<string, { stream: StreamType; data: z.ZodType }>;

export type EventType = keyof typeof EVENT_CATALOGUE;
export type EventData<T extends EventType> = z.infer<(typeof EVENT_CATALOGUE)[T]['data']>;

/** Who caused an event: recorded on every event for auditing. */
export interface EventMeta {
  actor: string | null;
  request_id: string | null;
  source: string | null;
  [extra: string]: unknown;
}
