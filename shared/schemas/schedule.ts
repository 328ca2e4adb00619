// A schedule: what it submits (task templates or a sweep, as the sweep endpoint takes them),
// when (a cron expression in a time zone), with which context (named parameters with
// defaults that fill `{name}` placeholders and environment variables), and what it does when
// a server was down over a due time (catch_up) or the previous run is still live (overlap).
// The body is the one the issue gives; the names are kept.
import { z } from 'zod/v4';
import { Id, Timestamp } from './common.js';
import { RESERVED_ENV_NAMES, Sweep, SweepTemplate } from './sweep.js';
import { EnvName } from './task.js';

const MAX_SCHEDULE_TASKS = 100;
const MAX_CONTEXT = 32;

export const ContextValue = z.union([z.string().max(4096), z.number().finite()]);

/** Parameter name -> default value; numbers become their text as in sweeps. */
export const ScheduleContext = z
  .record(
    EnvName.refine((name) => !(RESERVED_ENV_NAMES as readonly string[]).includes(name), {
      message: `the worker sets ${RESERVED_ENV_NAMES.join(', ')} itself`,
    }),
    ContextValue,
  )
  .refine((c) => Object.keys(c).length <= MAX_CONTEXT, `at most ${MAX_CONTEXT} parameters`)
  .transform((c) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, String(v)])));

export const ScheduleSubmit = z.union([
  z.strictObject({ tasks: z.array(SweepTemplate).min(1).max(MAX_SCHEDULE_TASKS) }),
  z.strictObject({ sweep: Sweep }),
], { error: 'give {"tasks": [task, …]} or {"sweep": {"template", "parameters"}}, one of the two' }).describe('{ "tasks": [task, …] } or { "sweep": { "template", "parameters", "mode" } }, with {name} placeholders of the context');

export const CatchUp = z.enum(['skip', 'run_once']);
export const Overlap = z.enum(['allow', 'skip', 'queue']);

// Not digits alone: the CLI takes a number for a schedule's id, so such a name would name another schedule.
export const ScheduleName = z.string().min(1).max(200).regex(/^[^\0/]*$/, 'must not contain NUL or /')
  .refine((name) => !/^\d+$/.test(name), 'must not be digits alone: the CLI reads a number as a schedule id');
export const Cron = z.string().min(1).max(200).describe('five fields (minute hour day month weekday), six (seconds first), or a nickname (@daily, @hourly…)');
export const TimeZone = z.string().min(1).max(100).describe('an IANA time zone, e.g. Europe/Paris');

const fields = {
  name: ScheduleName,
  cron: Cron,
  timezone: TimeZone.default('UTC'),
  context: ScheduleContext.default({}),
  submit: ScheduleSubmit,
  workflow_id: Id.nullable().optional().describe("the workflow of every task (else each template's own)"),
  step_id: Id.nullable().optional().describe("the step of every task (else each template's own)"),
  catch_up: CatchUp.default('skip').describe('after a server was down over due times: skip them, or run once (the latest)'),
  overlap: Overlap.default('allow').describe("when the previous run still has live tasks: run anyway, skip, or queue one run until they end"),
  enabled: z.boolean().default(true),
};

export const ScheduleInput = z.strictObject(fields);
export type ScheduleInput = z.input<typeof ScheduleInput>;
export type ScheduleBody = z.output<typeof ScheduleInput>;

/** The fields to change; the context given replaces the whole context. */
export const SchedulePatch = z.strictObject({
  name: ScheduleName, cron: Cron, timezone: TimeZone, context: ScheduleContext, submit: ScheduleSubmit,
  workflow_id: Id.nullable(), step_id: Id.nullable(), catch_up: CatchUp, overlap: Overlap,
  // Enabling is an action of its own, with its event: the refusal says where it is.
  enabled: z.never({ error: 'not changed here: POST /schedules/{id}/enable or /schedules/{id}/disable (labq schedule enable|disable)' }),
}).partial();
export type SchedulePatch = z.output<typeof SchedulePatch>;

export const RunScheduleBody = z.strictObject({
  context: z.record(z.string(), ContextValue).default({})
    .transform((c) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, String(v)])))
    .describe("values for some of the schedule's parameters, for this run only"),
});

export const ScheduleRun = z.object({
  run: z.number().int().describe("the number of the run: its place among the schedule's runs (fired, skipped or failed), 1 for the first"),
  due_at: Timestamp,
  fired_at: Timestamp.nullable(),
  fired_by: z.string().describe("'clock', or the name of the user or token that ran it"),
  context: z.record(z.string(), z.string()).nullable(),
  task_ids: z.array(Id),
  status: z.enum(['fired', 'skipped', 'failed']),
  reason: z.string().nullable().describe('why a run was skipped (overlap, catch_up) or failed'),
  tasks: z.record(z.string(), z.number().int()).describe("the run's tasks by status now"),
});
export type ScheduleRun = z.infer<typeof ScheduleRun>;

export const Schedule = z.object({
  id: Id,
  name: z.string(),
  cron: z.string(),
  timezone: z.string(),
  context: z.record(z.string(), z.string()),
  submit: z.record(z.string(), z.unknown()),
  workflow_id: Id.nullable(),
  step_id: Id.nullable(),
  catch_up: CatchUp,
  overlap: Overlap,
  enabled: z.boolean(),
  next_due_at: Timestamp.nullable(),
  queued_due_at: Timestamp.nullable(),
  next_runs: z.array(Timestamp).describe('the next due times (up to 5), none while disabled'),
  created_at: Timestamp,
  created_by: z.string().nullable(),
  updated_at: Timestamp,
  version: z.number().int(),
});
export type Schedule = z.infer<typeof Schedule>;

/** A schedule as the list gives it: with its latest run, read in the same query (a list of schedules shows how each last went). */
export const ScheduleListItem = Schedule.extend({ last_run: ScheduleRun.nullable().describe('the latest run, null before the first') });
export type ScheduleListItem = z.infer<typeof ScheduleListItem>;

export const ScheduleDetail = Schedule.extend({ runs: z.array(ScheduleRun).describe('the latest 20 runs, newest first') });
export type ScheduleDetail = z.infer<typeof ScheduleDetail>;
