// Steering: what a user sends to hold, release, edit, relaunch and cancel tasks (one, or
// all that match a filter), to pause and resume a workflow, a step, a tag or everything,
// and what each operation answers.
import { z } from 'zod/v4';
import { Id, onlyWhenValid, Timestamp } from './common.js';
import { Requirements, Tag, TaskFilterBody, TaskInput } from './task.js';

/** The fields of a task that can be changed until its process starts. */
export const EDITABLE_FIELDS = [
  'name', 'command', 'shell', 'container', 'container_options', 'inputs', 'resources', 'output', 'env', 'priority', 'tag',
  'requirements', 'timeouts', 'max_retries', 'retry_on', 'backoff',
] as const;
export type EditableField = (typeof EDITABLE_FIELDS)[number];

// Each field as a submission checks it, without its default: a field left out keeps its value.
const unDefaulted = (schema: z.ZodType) => (schema instanceof z.ZodDefault ? (schema.unwrap() as z.ZodType) : schema).optional();
type EditShape = { [K in EditableField]: z.ZodOptional<z.ZodType<z.output<(typeof TaskInput.shape)[K]>, z.input<(typeof TaskInput.shape)[K]>>> };
/** New values of some editable fields. */
// A memory curve is given at submission; an edit sets the requirement of the next attempt.
export const TaskChanges = z.strictObject(
  Object.fromEntries(EDITABLE_FIELDS.map((f) => [f, unDefaulted(f === 'requirements' ? Requirements : TaskInput.shape[f])])) as unknown as EditShape,
);
export type TaskChanges = z.output<typeof TaskChanges>;

export const CommandReplace = z.strictObject({
  find: z.string().min(1).max(10_000),
  with: z.string().max(100_000),
  regex: z.boolean().default(false).describe('`find` is a JavaScript regular expression; `with` may use $1, $<name>'),
  all: z.boolean().default(true).describe('replace every occurrence (false: the first only)'),
});
export type CommandReplace = z.output<typeof CommandReplace>;

/** How many changes a dry run shows. */
export const EDIT_SAMPLE_SIZE = 10;

const editFields = {
  set: TaskChanges.optional(),
  replace: CommandReplace.optional().describe('find and replace in the command'),
  dry_run: z.boolean().default(false).describe('count and show a sample of the changes without making them'),
};
// Whether `set` holds a field is the command's to check.
const someChange = (b: { set?: object; replace?: object }) => b.set !== undefined || b.replace !== undefined;
const NO_CHANGE = onlyWhenValid('give `set` (new field values) and/or `replace` (find and replace in the command)');

export const EditTaskBody = z.strictObject(editFields).refine(someChange, NO_CHANGE);
export const EditTasksBody = z.strictObject({ filter: TaskFilterBody, ...editFields }).refine(someChange, NO_CHANGE);
export type EditTasksBody = z.input<typeof EditTasksBody>;

const Reason = z.string().min(1).max(500);
export const Grace = z.number().int().min(0).max(3600).default(10).describe('seconds between TERM and KILL');

export const TaskActionBody = z.strictObject({ reason: Reason.optional() });
export const BulkActionBody = z.strictObject({ filter: TaskFilterBody, reason: Reason.optional() });
export const CancelBody = z.strictObject({ reason: Reason.optional(), grace_seconds: Grace });
export const BulkCancelBody = z.strictObject({ filter: TaskFilterBody, reason: Reason.optional(), grace_seconds: Grace });
export type BulkActionBody = z.input<typeof BulkActionBody>;
export type BulkCancelBody = z.input<typeof BulkCancelBody>;

/** How many ids a bulk answer lists, per group. */
export const BULK_LISTED_IDS = 1000;

export const EditSample = z.object({ id: Id, before: z.record(z.string(), z.unknown()), after: z.record(z.string(), z.unknown()) });

export const BulkResult = z.object({
  matched: z.number().int().describe('tasks the filter matched'),
  changed: z.number().int().describe('tasks the operation changed (or would change, in a dry run)'),
  task_ids: z.array(Id).describe(`the changed tasks (the first ${BULK_LISTED_IDS})`),
  skipped: z.array(z.object({ reason: z.string(), count: z.number().int(), task_ids: z.array(Id) }))
    .describe('matched tasks left as they were, grouped by why'),
  dry_run: z.boolean(),
  sample: z.array(EditSample).optional().describe('edits: the first changes, old and new values'),
});
export type BulkResult = z.infer<typeof BulkResult>;

export const PAUSE_SIGNALS = ['none', 'suspend', 'term', 'kill'] as const;
export const PauseBody = z.strictObject({
  signal: z.enum(PAUSE_SIGNALS).default('none')
    .describe('what happens to running executions: none (they go on), suspend (stopped until resume), term (TERM, KILL after the grace; the task is queued again), kill (KILL at once; queued again)'),
  grace_seconds: Grace,
});
export type PauseBody = z.input<typeof PauseBody>;

export const QueuePauseBody = PauseBody.extend({ tag: Tag.optional().describe('pause one routing tag; absent: everything') });
export const QueueResumeBody = z.strictObject({ tag: Tag.optional() });

export const PAUSE_SCOPES = ['all', 'workflow', 'step', 'tag'] as const;
export const Pause = z.object({
  scope: z.enum(PAUSE_SCOPES),
  workflow_id: Id.nullable(),
  step_id: Id.nullable(),
  tag: z.string().nullable(),
  paused_at: Timestamp,
  paused_by: z.string().nullable(),
});
export type Pause = z.infer<typeof Pause>;

export const PauseResult = z.object({
  paused: z.boolean().describe('whether the scope is paused now'),
  changed: z.boolean().describe('false when it already was (pause) or was not (resume)'),
  tasks: z.number().int().describe('unfinished tasks of the scope whose paused flag changed'),
  signalled: z.number().int().describe('running executions that were sent the signal (suspend, TERM, KILL; continue on resume)'),
});
export type PauseResult = z.infer<typeof PauseResult>;
