// What one run of a schedule submits: each task template, or the sweep, compiled with the
// run's context as single-valued sweep parameters (shared/sweep.ts), so `{name}`
// placeholders and environment variables work exactly as in sweeps. Pure: the create and
// edit commands call it to refuse a schedule whose runs could not submit, the fire command
// to make the run's tasks. Each task's key is the run's (`schedule-<id>@<due>:<i>`), so a
// run is one set of new tasks, and a fire retried after a key race finds its own.
import { compileSweep, type CompiledSweep } from '../../shared/sweep.js';
import type { ScheduleBody } from '../../shared/schemas/schedule.js';
import { TaskInput } from '../../shared/schemas/task.js';
import type { FieldError } from '../errors.js';

export interface RunPlan {
  /** Each sweep with where its template sits in the schedule (`submit.tasks[0].`): what an error found when it is submitted names. */
  sweeps: Array<{ sweep: CompiledSweep; field: string }>;
}

type Submit = ScheduleBody['submit'];
interface Placement { workflow_id?: number | null; step_id?: number | null }

function placed<T extends object>(template: T, where: Placement): T {
  return {
    ...template,
    ...(where.step_id ? { step_id: where.step_id } : {}),
    ...(where.workflow_id ? { workflow_id: where.workflow_id } : {}),
  };
}

/** Renames compileSweep's fields (`template.command`, `parameters.x`) to the schedule's. */
function renamed(errors: FieldError[], template: string, parameters: (name: string) => string): FieldError[] {
  return errors.map((e) => ({
    ...e,
    message: e.message.replace('the parameters are  (', 'the context has no parameters ('),
    field: e.field.startsWith('template.') ? template + e.field.slice('template.'.length)
      : e.field.startsWith('parameters.') ? parameters(e.field.slice('parameters.'.length).replace(/\[\d+\]$/, ''))
      : e.field,
  }));
}

export function planRun(submit: Submit, where: Placement, context: Record<string, string>, key: string): RunPlan | FieldError[] {
  const single = Object.fromEntries(Object.entries(context).map(([k, v]) => [k, [v]]));
  const sweeps: RunPlan['sweeps'] = [];
  const errors: FieldError[] = [];
  const add = (compiled: ReturnType<typeof compileSweep>, template: string, parameters: (name: string) => string) => {
    if (!compiled.ok) return errors.push(...renamed(compiled.errors, template, parameters));
    // The whole grid is checked when it is submitted; its first task shows most mistakes now.
    const first = compiled.sweep.task(0);
    if (Array.isArray(first)) errors.push(...renamed(first, template, parameters));
    else sweeps.push({ sweep: compiled.sweep, field: template });
  };
  if ('tasks' in submit) {
    submit.tasks.forEach((task, i) => {
      const sweep = { template: { ...placed(task, where), key: `${key}:${i}` }, parameters: single, mode: 'product' as const };
      add(compileSweep(sweep), `submit.tasks[${i}].`, (name) => `context.${name}`);
    });
  } else {
    const own = submit.sweep.parameters;
    for (const name of Object.keys(context)) {
      if (name in own) errors.push({ field: `context.${name}`, message: 'is also a parameter of the sweep: give it one place' });
    }
    if (errors.length) return errors;
    const sweep = { ...submit.sweep, template: { ...placed(submit.sweep.template, where), key }, parameters: { ...own, ...single } };
    add(compileSweep(sweep), 'submit.sweep.template.', (name) => (name in own ? `submit.sweep.parameters.${name}` : `context.${name}`));
  }
  return errors.length ? errors : { sweeps };
}

/** The key of a run's tasks: the schedule and the due time. */
export const runKey = (scheduleId: number, dueAt: Date) => `schedule-${scheduleId}@${dueAt.getTime()}`;

/** A task's defaults, left out of what a schedule stores and shows: what it says is what the user said. */
const DEFAULTS: Record<string, unknown> = TaskInput.parse({ command: '-' });

function ownFields<T extends object>(template: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(template).filter(([k, v]) => k === 'command' || !(k in DEFAULTS) || JSON.stringify(v) !== JSON.stringify(DEFAULTS[k])),
  ) as Partial<T>;
}

/** The submit without the fields that hold their defaults (they come back when it is parsed to fire). */
export function storedSubmit(submit: Submit): Record<string, any> {
  return 'tasks' in submit
    ? { tasks: submit.tasks.map(ownFields) }
    : { sweep: { ...submit.sweep, template: ownFields(submit.sweep.template) } };
}
