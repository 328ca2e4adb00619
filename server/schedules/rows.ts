// The schedule row as the commands read it (locked), and the checks every command that
// writes a definition makes: the cron and its time zone, the workflow and step, what its
// tasks refer to (secrets, dependencies, container options under the Docker policy), and a
// run with the default context compiling.
import { sql } from 'slonik';
import { ScheduleSubmit, type ScheduleBody } from '../../shared/schemas/schedule.js';
import type { Db } from '../db/pool.js';
import { invalid, notFound, type FieldError } from '../errors.js';
import { containerPolicyErrors, imagelessOptionErrors } from '../queries/policies.js';
import { missingDependencies } from '../queries/references.js';
import { unknownSecrets } from '../queries/secrets.js';
import { cronErrors } from './cron.js';
import { planRun, runKey } from './plan.js';

export interface ScheduleRow {
  id: number;
  name: string;
  cron: string;
  timezone: string;
  context: Record<string, string>;
  submit: ScheduleBody['submit'];
  workflow_id: number | null;
  step_id: number | null;
  catch_up: ScheduleBody['catch_up'];
  overlap: ScheduleBody['overlap'];
  enabled: boolean;
  next_due_at: string | null;
  queued_due_at: string | null;
  version: number;
}

/** The schedule, locked: commands on one schedule (and the servers firing it) queue on its row. */
export async function lockSchedule(tx: Db, id: number): Promise<ScheduleRow | null> {
  const row = await tx.maybeOne(sql.unsafe`
    SELECT id, name, cron, timezone, context, submit, workflow_id, step_id, catch_up, overlap, enabled, next_due_at, queued_due_at, version
    FROM schedules WHERE id = ${id} FOR UPDATE`);
  return row ? ({ ...row, submit: ScheduleSubmit.parse(row.submit) } as ScheduleRow) : null;
}

export async function lockExisting(tx: Db, id: number): Promise<ScheduleRow> {
  const row = await lockSchedule(tx, id);
  if (!row) throw notFound(`schedule ${id}`);
  return row;
}

/**
 * What the tasks of every run would be refused for when submitted, whatever the context: a
 * secret or a dependency that does not exist, container options the Docker policy refuses
 * or that come without an image.
 */
async function referenceErrors(tx: Db, submit: ScheduleBody['submit']): Promise<FieldError[]> {
  const [templates, field] = 'tasks' in submit
    ? [submit.tasks, (i: number) => `submit.tasks[${i}].`]
    : [[submit.sweep.template], () => 'submit.sweep.template.'];
  const existing = async (table: 'tasks' | 'steps', ids: number[]) => new Set(ids.length
    ? ((await tx.anyFirst(sql.unsafe`SELECT id FROM ${sql.identifier([table])} WHERE id = ANY(${sql.array([...new Set(ids)], 'int8')})`)) as number[]).map(Number)
    : []);
  const tasks = await existing('tasks', templates.flatMap((t) => t.depends_on));
  const steps = await existing('steps', templates.flatMap((t) => t.depends_on_steps));
  return [
    ...missingDependencies(templates, 'depends_on', tasks, field),
    ...missingDependencies(templates, 'depends_on_steps', steps, field),
    ...(await unknownSecrets(tx, templates.map((t) => t.env), field)),
    ...imagelessOptionErrors(templates, field),
    ...(await containerPolicyErrors(tx, templates.map((t) => t.container_options), field)),
  ];
}

type Definition = Pick<ScheduleRow, 'cron' | 'timezone' | 'context' | 'submit' | 'workflow_id' | 'step_id'>;

/** Refuses (400, naming the fields) a definition whose clock or runs could not work. */
export async function checkDefinition(tx: Db, d: Definition): Promise<void> {
  const errors: FieldError[] = cronErrors(d.cron, d.timezone);
  const plan = planRun(d.submit, d, d.context, runKey(0, new Date(0)));
  if (Array.isArray(plan)) errors.push(...plan);
  errors.push(...(await referenceErrors(tx, d.submit)));
  if (d.step_id) {
    const workflow = await tx.maybeOneFirst(sql.unsafe`SELECT workflow_id FROM steps WHERE id = ${d.step_id}`);
    if (workflow === null) errors.push({ field: 'step_id', message: `step ${d.step_id} does not exist` });
    else if (d.workflow_id && workflow !== d.workflow_id) errors.push({ field: 'workflow_id', message: `step ${d.step_id} belongs to workflow ${workflow}, not ${d.workflow_id}` });
  } else if (d.workflow_id && !(await tx.exists(sql.unsafe`SELECT 1 FROM workflows WHERE id = ${d.workflow_id}`))) {
    errors.push({ field: 'workflow_id', message: `workflow ${d.workflow_id} does not exist` });
  }
  if (errors.length) throw invalid(errors);
}
