// `labq schedule add|list|show|edit|run|enable|disable|rm`: schedules that submit tasks or a
// sweep on a cron. A schedule is named by its id or its name. `add` takes one task from the
// task options (the command with `{name}` placeholders of the context), or a whole schedule
// as JSON with -f, the body of POST /schedules.
import { Option, type Command } from 'commander';
import type { LabqClient } from '../shared/client.js';
import { CatchUp, Overlap, ScheduleInput, type ScheduleDetail, type SchedulePatch, type ScheduleRun } from '../shared/schemas/schedule.js';
import { clientFrom, type ClientFlags } from './context.js';
import { fromFlags, nested, type FieldFlags } from './fieldFlags.js';
import { counts, print, table } from './format.js';
import { readJsonFile } from './input.js';
import { collect, TASK_FLAGS, taskFromFlags, taskOptions } from './tasks.js';

/** --context NAME=VALUE, repeatable, into an object. */
function contextFrom(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const context: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--context takes NAME=VALUE, got "${pair}"`);
    context[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return context;
}

/**
 * --catch-up or --overlap, refused before any request unless one of the schema's values
 * (commander lists them in the refusal and the help). `add` names the default the server
 * applies; `edit` keeps the schedule's own.
 */
function policyOption(field: 'catch_up' | 'overlap', command: 'add' | 'edit'): Option {
  const schema = ScheduleInput.shape[field];
  const values = (field === 'catch_up' ? CatchUp : Overlap).options;
  const fallback = command === 'add' ? ` (default ${schema.def.defaultValue})` : '';
  return new Option(`--${field.replace('_', '-')} <policy>`, `${schema.description}${fallback}`).choices(values);
}

/** The flags of the fields that `add` and `edit` share. */
const SCHEDULE_FLAGS: FieldFlags = { timezone: '--timezone', context: '--context', catch_up: '--catch-up', overlap: '--overlap' };

/** The id of a schedule given by id or by name. */
async function scheduleId(client: LabqClient, given: string): Promise<number> {
  if (/^\d+$/.test(given)) return Number(given);
  const found = (await client.call('listSchedules')).items.find((s) => s.name === given);
  if (!found) throw new Error(`no schedule named "${given}"`);
  return found.id;
}

function describe(s: ScheduleDetail): string {
  const lines = [
    `schedule ${s.id}: ${s.name}`,
    `cron:      ${s.cron} (${s.timezone})`,
    `enabled:   ${s.enabled ? 'yes' : 'no'}; catch_up ${s.catch_up}; overlap ${s.overlap}`,
    `context:   ${Object.entries(s.context).map(([k, v]) => `${k}=${v}`).join(' ') || '(none)'}`,
    `submits:   ${JSON.stringify(s.submit)}`,
    `created:   ${s.created_at}${s.created_by ? ` by ${s.created_by}` : ''}; last changed ${s.updated_at}`,
    `next runs: ${s.next_runs.join(', ') || '(none: disabled)'}`,
  ];
  if (s.queued_due_at) lines.push(`queued:    the run due at ${s.queued_due_at}, until the previous run's tasks end`);
  if (s.runs.length === 0) return [...lines, 'runs:      none yet'].join('\n');
  const runs = s.runs.map((r) => ({
    ...r, context: r.context ? Object.entries(r.context).map(([k, v]) => `${k}=${v}`).join(' ') : '',
    tasks: r.status === 'fired' ? `${r.task_ids.length}: ${counts(r.tasks)}` : r.reason,
  }));
  return [...lines, '', table(runs, ['run', 'due_at', 'fired_at', 'fired_by', 'status', 'context', 'tasks'])].join('\n');
}

/** A run in a cell: how its tasks stand when it fired, else why not (`run 5: succeeded=2`, `run 3: skipped (overlap)`). */
function lastRun(r: ScheduleRun | null): string {
  if (!r) return 'none yet';
  return `run ${r.run}: ${r.status === 'fired' ? counts(r.tasks) : `${r.status} (${r.reason})`}`;
}

export function scheduleCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): void {
  const schedule = program.command('schedule').description('schedules: tasks or a sweep submitted on a cron');
  const client = () => clientFrom(flags());
  const show = (s: ScheduleDetail) => print(s, !!flags().json, () => describe(s));

  taskOptions(
    schedule
      .command('add')
      .description('add a schedule of one task (the task options; {name} placeholders of the context), or a JSON schedule with -f')
      .argument('[name]', 'the schedule name (unique)')
      .argument('[cron]', 'five fields (minute hour day month weekday) or six (seconds first), quoted')
      .argument('[command...]', 'the shell command, with {name} placeholders')
      .option('-c, --command <command>', 'the shell command (instead of the words after --)')
      .option('--timezone <zone>', 'IANA time zone of the cron (default UTC)')
      .option('--context <NAME=VALUE>', 'a parameter and its default value; repeatable', collect)
      .addOption(policyOption('catch_up', 'add'))
      .addOption(policyOption('overlap', 'add'))
      .option('--disabled', 'add it disabled')
      .option('-f, --file <file>', 'JSON: the body of POST /schedules; - for stdin'),
  ).action(async (name: string | undefined, cron: string | undefined, words: string[], o) => {
    let created: Promise<ScheduleDetail>;
    if (o.file) {
      if (name || cron) throw new Error('give the schedule with -f or as arguments, not both');
      created = client().call('createSchedule', { body: await readJsonFile<ScheduleInput>(o.file) });
    } else {
      if (!name || !cron) throw new Error('give a name and a cron expression (or a JSON schedule with -f)');
      if (o.command && words.length) throw new Error('give the command with --command or after --, not both');
      const { workflow_id, step_id, ...task } = taskFromFlags(o.command ? [o.command] : words, o);
      const body: ScheduleInput = {
        name, cron, timezone: o.timezone, context: contextFrom(o.context), submit: { tasks: [task] }, workflow_id, step_id,
        catch_up: o.catchUp, overlap: o.overlap, enabled: !o.disabled,
      };
      // The task's workflow and step go to the schedule itself.
      const flagsOf: FieldFlags = {
        ...SCHEDULE_FLAGS, ...nested('submit.tasks[0]', TASK_FLAGS), workflow_id: TASK_FLAGS.workflow_id!, step_id: TASK_FLAGS.step_id!, enabled: '--disabled',
      };
      created = fromFlags(flagsOf, client().call('createSchedule', { body }));
    }
    show(await created);
  });

  schedule
    .command('list')
    .description('list schedules with their next run times')
    .action(async () => {
      const answer = await client().call('listSchedules');
      const rows = answer.items.map((s) => ({
        ...s, enabled: s.enabled ? 'yes' : 'no', next_runs: s.next_runs.slice(0, 2).join(' '),
        last_run: lastRun(s.last_run),
      }));
      print(answer, !!flags().json, () => table(rows, ['id', 'name', 'cron', 'timezone', 'enabled', 'overlap', 'next_runs', 'last_run']));
    });

  schedule
    .command('show')
    .description('a schedule, its next run times and its latest runs (when due, when fired, by whom, the context, how its tasks stand)')
    .argument('<schedule>', 'id or name')
    .action(async (given: string) => show(await client().call('getSchedule', { params: { id: await scheduleId(client(), given) } })));

  schedule
    .command('edit')
    .description('change some fields of a schedule (recorded with old and new values)')
    .argument('<schedule>', 'id or name')
    .option('--name <name>')
    .option('--cron <cron>')
    .option('--timezone <zone>')
    .option('--context <NAME=VALUE>', 'the whole new context; repeatable', collect)
    .addOption(policyOption('catch_up', 'edit'))
    .addOption(policyOption('overlap', 'edit'))
    .option('-f, --file <file>', 'JSON: the body of PATCH /schedules/{id}; - for stdin')
    .action(async (given: string, o) => {
      const body: SchedulePatch = o.file
        ? await readJsonFile<SchedulePatch>(o.file)
        : { name: o.name, cron: o.cron, timezone: o.timezone, context: contextFrom(o.context), catch_up: o.catchUp, overlap: o.overlap };
      if (Object.values(body).every((value) => value === undefined)) {
        throw new Error('nothing to change: give --name, --cron, --timezone, --context, --catch-up, --overlap, or -f FILE');
      }
      const edited = client().call('editSchedule', { params: { id: await scheduleId(client(), given) }, body });
      show(await (o.file ? edited : fromFlags({ ...SCHEDULE_FLAGS, name: '--name', cron: '--cron' }, edited)));
    });

  schedule
    .command('run')
    .description('run a schedule now, optionally with some parameters changed for this run only')
    .argument('<schedule>', 'id or name')
    .option('--context <NAME=VALUE>', 'a parameter for this run; repeatable', collect)
    .action(async (given: string, o) => {
      const id = await scheduleId(client(), given);
      const run = await fromFlags({ context: '--context' }, client().call('runSchedule', { params: { id }, body: { context: contextFrom(o.context) } }));
      const context = Object.entries(run.context).map(([k, v]) => `${k}=${v}`).join(' ');
      print(run, !!flags().json, () => `run ${run.run} fired at ${run.fired_at}${context ? ` with ${context}` : ''}\ntask ids: ${run.task_ids.join(', ')}`);
    });

  for (const [verb, route, description] of [
    ['enable', 'enableSchedule', 'enable a schedule: next due at its first due time from now'],
    ['disable', 'disableSchedule', 'disable a schedule: the clock no longer fires it'],
  ] as const) {
    schedule
      .command(verb)
      .description(description)
      .argument('<schedule>', 'id or name')
      .action(async (given: string) => show(await client().call(route, { params: { id: await scheduleId(client(), given) } })));
  }

  schedule
    .command('rm')
    .description('delete a schedule (the tasks it made stay)')
    .argument('<schedule>', 'id or name')
    .action(async (given: string) => {
      const id = await scheduleId(client(), given);
      const result = await client().call('deleteSchedule', { params: { id } });
      print(result, !!flags().json, () => `schedule ${given} deleted`);
    });
}
