// `labq task hold|release|relaunch|cancel|edit|wait` on ids or a filter, `labq step|workflow
// pause|resume|cancel`, `labq queue pause|resume|pauses`: the steering operations of the API.
import type { Command } from 'commander';
import type { LabqClient } from '../shared/client.js';
import { FAILURE_CLASSES } from '../shared/schemas/execution.js';
import { PAUSE_SIGNALS, TaskChanges, type BulkResult, type PauseResult } from '../shared/schemas/steering.js';
import { TASK_STATUSES, UNFINISHED_TASK_STATUSES, type TaskFilterBody } from '../shared/schemas/task.js';
import { clientFrom, type ClientFlags } from './context.js';
import { fromFlags, nested } from './fieldFlags.js';
import { collectInts, int, list, print, table } from './format.js';
import { collect, FILTER_FLAGS, WHY_HELP } from './tasks.js';

type Flags = () => ClientFlags & { json?: boolean };

/** The filter flags every bulk task command takes, besides ids as arguments. */
function withFilter(command: Command): Command {
  return command
    .argument('[ids...]', 'task ids', collectInts)
    .option('-w, --workflow <id>', 'the tasks of a workflow', int)
    .option('-s, --step <id>', 'the tasks of a step', int)
    .option('--status <list>', `comma-separated statuses: ${TASK_STATUSES.join(', ')}`)
    .option('-t, --tag <tag>', 'the tasks with this tag')
    .option('-q, --search <text>', 'text in the command')
    .option('--worker <id>', 'the tasks whose latest attempt ran on this worker', int)
    .option('--failure-class <list>', `the tasks whose latest attempt failed so, comma-separated: ${FAILURE_CLASSES.join(', ')}`)
    .option('--why <reason>', WHY_HELP)
    .option('--all', 'every task (when no other criterion is given)');
}

function filterFrom(ids: number[], o: Record<string, any>): TaskFilterBody {
  const filter: TaskFilterBody = {
    ...(ids.length && { ids }),
    ...(o.workflow !== undefined && { workflow_id: o.workflow }),
    ...(o.step !== undefined && { step_id: o.step }),
    ...(o.status && { status: list(o.status) as TaskFilterBody['status'] }),
    ...(o.tag && { tag: o.tag }),
    ...(o.search && { q: o.search }),
    ...(o.worker !== undefined && { worker_id: o.worker }),
    ...(o.failureClass && { failure_class: list(o.failureClass) as TaskFilterBody['failure_class'] }),
    ...(o.why && { reason: o.why }),
    ...(o.all && { all: true as const }),
  };
  if (Object.keys(filter).length === 0) throw new Error('name the tasks: ids, or --workflow, --step, --status, --tag, --search, --worker, --failure-class, --why, or --all');
  return filter;
}

/** The flags of a bulk command's filter and of the fields every bulk command may send. */
const BULK_FLAGS = { ...nested('filter', FILTER_FLAGS), reason: '--reason', grace_seconds: '--grace' };
/** The flags of a pause of a workflow, a step or a tag. */
const PAUSE_FLAGS = { signal: '--signal', grace_seconds: '--grace', tag: '--tag' };

/** How many ids a summary line names; --json gives the answer's whole lists. */
/**
 * The value of `--set FIELD=VALUE`: JSON where the field takes it (`priority=5`,
 * `env={"T":"8"}`), else the text as typed, so that `name=123` names the task "123". A field
 * the edit does not know is sent as parsed, for the server to refuse by name.
 */
function setValue(field: string, raw: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return raw;
  }
  const schema = (TaskChanges.shape as Record<string, { safeParse(v: unknown): { success: boolean } } | undefined>)[field];
  return schema && !schema.safeParse(parsed).success && schema.safeParse(raw).success ? raw : parsed;
}

const NAMED_IDS = 20;
const idList = (ids: number[], count: number) => `${ids.slice(0, NAMED_IDS).join(' ')}${count > NAMED_IDS ? ' …' : ''}`;

export function bulkSummary(verb: string, r: BulkResult): string {
  const lines = [`${r.dry_run ? 'would change' : verb} ${r.changed} of ${r.matched} matched task(s)${r.changed ? `: ${idList(r.task_ids, r.changed)}` : ''}`];
  for (const s of r.skipped) lines.push(`  left ${s.count}: ${s.reason} (${idList(s.task_ids, s.count)})`);
  for (const e of r.sample ?? []) {
    for (const field of Object.keys(e.after)) {
      lines.push(`  task ${e.id} ${field}: ${JSON.stringify(e.before[field])} -> ${JSON.stringify(e.after[field])}`);
    }
  }
  return lines.join('\n');
}

// "Paused", not "held": held is a status of its own (labq task hold).
/**
 * Prints what a bulk command did. Asked for tasks by id, a command that changed none of them
 * fails (status 1), as its one-task route answers 409: a script can tell. With --json the
 * answer is printed all the same, for the script to read why.
 */
function report(result: BulkResult, verb: string, filter: TaskFilterBody, json: boolean): void {
  const byIdsOnly = Object.keys(filter).every((k) => k === 'ids');
  const failed = byIdsOnly && !result.dry_run && result.changed === 0 && result.skipped.length > 0;
  if (json || !failed) print(result, json, () => bulkSummary(verb, result));
  if (failed) throw new Error(bulkSummary(verb, result));
}

const pauseSummary = (what: string, r: PauseResult) =>
  (r.changed ? `${what} ${r.paused ? 'paused' : 'resumed'}: ${r.tasks} task(s) ${r.paused ? 'paused' : 'no longer paused'}` : `${what} was ${r.paused ? 'already' : 'not'} paused`) +
  (r.signalled ? `, ${r.signalled} running execution(s) signalled` : '');

/** Ends with status 1 when a wait saw a task fail: main prints the message. */
async function waitFor(client: LabqClient, filter: TaskFilterBody, everySeconds: number, quiet: boolean): Promise<string> {
  // A wait is for tasks to end, whatever they are now: a status would change under it.
  if (filter.status || filter.failure_class || filter.reason) throw new Error('--status, --failure-class and --why do not go with wait: it waits until the tasks named end');
  const query = { ...filter, ids: filter.ids?.join(','), all: undefined, limit: 1 } as any;
  const first = await client.listTasks({ ...query });
  if (first.items.length === 0) throw new Error('no task matches');
  if (filter.ids) {
    const found = new Set((await client.listTasks({ ...query, limit: filter.ids.length })).items.map((t) => t.id));
    const unknown = filter.ids.filter((id) => !found.has(id));
    if (unknown.length) throw new Error(`${Object.keys(filter).length > 1 ? 'no task of the filter' : 'no such task'}: ${unknown.join(' ')}`);
  }
  for (let told = ''; ;) {
    const open = await client.listTasks({ ...query, status: UNFINISHED_TASK_STATUSES.filter((s) => s !== 'blocked').join(',') });
    if (open.items.length === 0) break;
    const line = `waiting for task ${open.items[0]!.id} (${open.items[0]!.status}) and any others`;
    if (!quiet && line !== told) process.stderr.write(`[labq: ${line}]\n`);
    told = line;
    await new Promise((r) => setTimeout(r, everySeconds * 1000));
  }
  const bad = await client.listTasks({ ...query, status: 'failed,cancelled,blocked', limit: 1000 });
  if (bad.items.length) {
    throw new Error(`${bad.items.length}${bad.next_cursor ? '+' : ''} task(s) did not succeed: ${bad.items.map((t) => `${t.id} ${t.status}`).join(', ')}`);
  }
  return 'every task succeeded';
}

export function steeringCommands(program: Command, task: Command, flags: Flags): void {
  const bulk = (name: string, description: string, verb: string, route: 'holdTasks' | 'releaseTasks' | 'relaunchTasks') =>
    withFilter(task.command(name).description(description))
      .option('--reason <text>', 'recorded in the event')
      .action(async (ids: number[] = [], o) => {
        const filter = filterFrom(ids, o);
        report(await fromFlags(BULK_FLAGS, clientFrom(flags()).call(route, { body: { filter, reason: o.reason } })), verb, filter, !!flags().json);
      });
  bulk('hold', 'hold tasks not yet started: no worker takes them until they are released', 'held', 'holdTasks');
  bulk('release', 'release held tasks', 'released', 'releaseTasks');
  bulk('relaunch', 'relaunch tasks that ended (e.g. labq task relaunch --step 3 --status failed): a new attempt each', 'relaunched', 'relaunchTasks');

  withFilter(task.command('cancel').description('cancel tasks: pending ones at once, running ones by TERM then KILL'))
    .option('--reason <text>', 'recorded in the event')
    .option('-g, --grace <seconds>', 'seconds between TERM and KILL', int, 10)
    .action(async (ids: number[] = [], o) => {
      const filter = filterFrom(ids, o);
      const cancelled = clientFrom(flags()).call('cancelTasks', { body: { filter, reason: o.reason, grace_seconds: o.grace } });
      report(await fromFlags(BULK_FLAGS, cancelled), 'cancelled', filter, !!flags().json);
    });

  withFilter(task.command('edit').description('edit tasks not yet running: new field values and/or find and replace in the command'))
    .option('--command <command>', 'a new command')
    .option('--find <text>', 'text (or with --regex a regular expression) to replace in the command')
    .option('--replace <text>', 'what replaces it, "" to delete it (with --regex: $1, $<name> refer to groups)')
    .option('--regex', '--find is a regular expression')
    .option('--first', 'replace the first occurrence only')
    .option('--set <FIELD=JSON>', 'any editable field, e.g. --set priority=5 --set env=\'{"T":"8"}\' (repeatable)', collect)
    .option('-p, --priority <n>', 'new priority', int)
    .option('--new-tag <tag>', 'new routing tag')
    .option('-n, --dry-run', 'show how many tasks and a sample of the changes, change nothing')
    .action(async (ids: number[] = [], o) => {
      const set: Record<string, unknown> = {};
      for (const pair of o.set ?? []) {
        const eq = pair.indexOf('=');
        if (eq < 1) throw new Error(`--set takes FIELD=VALUE, got "${pair}"`);
        set[pair.slice(0, eq)] = setValue(pair.slice(0, eq), pair.slice(eq + 1));
      }
      if (o.command !== undefined) set.command = o.command;
      if (o.priority !== undefined) set.priority = o.priority;
      if (o.newTag !== undefined) set.tag = o.newTag;
      if ((o.find === undefined) !== (o.replace === undefined)) throw new Error('--find and --replace go together (--replace "" deletes what --find finds)');
      const replace = o.find === undefined ? undefined : { find: o.find, with: o.replace, regex: !!o.regex, all: !o.first };
      if (!Object.keys(set).length && !replace) throw new Error('nothing to change: give --command, -p/--priority, --new-tag, --set FIELD=VALUE, or --find with --replace');
      const filter = filterFrom(ids, o);
      // A field set by its own flag is named by it; any other by --set.
      const setBy = {
        set: '--set', ...(o.command !== undefined && { 'set.command': '--command' }), ...(o.priority !== undefined && { 'set.priority': '--priority' }),
        ...(o.newTag !== undefined && { 'set.tag': '--new-tag' }),
      };
      const result = await fromFlags({ ...BULK_FLAGS, ...setBy, 'replace.find': '--find', 'replace.with': '--replace' }, clientFrom(flags()).call('editTasks', {
        body: { filter, ...(Object.keys(set).length && { set }), ...(replace && { replace }), dry_run: !!o.dryRun } as any,
      }));
      report(result, 'edited', filter, !!flags().json);
    });

  withFilter(task.command('wait').description('wait until the tasks have ended; fails (status 1) if any did not succeed, like sbatch --wait'))
    .option('--every <seconds>', 'seconds between looks', int, 2)
    .action(async (ids: number[] = [], o) => {
      const outcome = await waitFor(clientFrom(flags()), filterFrom(ids, o), o.every, !!flags().json);
      print({ ok: true }, !!flags().json, () => outcome);
    });

  task
    .command('why')
    .description('why a task is not running (held, dependencies, paused, backing off, no worker for it, workers busy, queued)')
    .argument('<id>', 'task id', int)
    .action(async (id: number) => {
      const why = await clientFrom(flags()).call('whyTask', { params: { id } });
      print(why, !!flags().json, () => [`task ${id} is ${why.status}`, ...why.reasons.map((r) => `  ${r.code}: ${r.message}`)].join('\n'));
    });

  for (const kind of ['workflow', 'step'] as const) {
    const group = program.commands.find((c) => c.name() === kind)!;
    const Kind = kind === 'workflow' ? 'Workflow' : 'Step';
    group
      .command('pause')
      .description(`pause a ${kind}: its tasks are not claimed until it is resumed`)
      .argument('<id>', `${kind} id`, int)
      .option('--signal <signal>', `what happens to its running tasks: ${PAUSE_SIGNALS.join(', ')} (term/kill: queued again)`, 'none')
      .option('-g, --grace <seconds>', 'seconds between TERM and KILL', int, 10)
      .action(async (id: number, o) => {
        const result = await fromFlags(PAUSE_FLAGS, clientFrom(flags()).call(`pause${Kind}`, { params: { id }, body: { signal: o.signal, grace_seconds: o.grace } }));
        print(result, !!flags().json, () => pauseSummary(`${kind} ${id}`, result));
      });
    group
      .command('resume')
      .description(`resume a paused ${kind}`)
      .argument('<id>', `${kind} id`, int)
      .action(async (id: number) => {
        const result = await clientFrom(flags()).call(`resume${Kind}`, { params: { id } });
        print(result, !!flags().json, () => pauseSummary(`${kind} ${id}`, result));
      });
    if (kind === 'step') {
      group
        .command('why')
        .description("how many of a step's tasks wait, for each reason")
        .argument('<id>', 'step id', int)
        .action(async (id: number) => {
          const why = await clientFrom(flags()).call('whyStep', { params: { id } });
          print(why, !!flags().json, () => [`step ${id}: ${why.waiting} task(s) not started`, ...why.reasons.flatMap((r) => [
            `  ${r.count} ${r.code}:`, ...r.messages.map((m) => `    - ${m}`), ...(r.more_messages ? [`    - and ${r.more_messages} more`] : []),
          ])].join('\n'));
        });
    }
    group
      .command('cancel')
      .description(`cancel the unfinished tasks of a ${kind}`)
      .argument('<id>', `${kind} id`, int)
      .option('-g, --grace <seconds>', 'seconds between TERM and KILL', int, 10)
      .option('--reason <text>', 'recorded in the event')
      .action(async (id: number, o) => {
        const result = await fromFlags(BULK_FLAGS, clientFrom(flags()).call(`cancel${Kind}`, { params: { id }, body: { grace_seconds: o.grace, reason: o.reason } }));
        print(result, !!flags().json, () => bulkSummary('cancelled', result));
      });
  }

  const queue = program.command('queue').description('pause and resume a routing tag, or everything');
  queue
    .command('pause')
    .description('pause one tag (--tag), or every task')
    .option('-t, --tag <tag>', 'the tag; absent: everything')
    .option('--signal <signal>', `what happens to running tasks: ${PAUSE_SIGNALS.join(', ')}`, 'none')
    .option('-g, --grace <seconds>', 'seconds between TERM and KILL', int, 10)
    .action(async (o) => {
      const result = await fromFlags(PAUSE_FLAGS, clientFrom(flags()).call('pauseQueue', { body: { tag: o.tag, signal: o.signal, grace_seconds: o.grace } }));
      print(result, !!flags().json, () => pauseSummary(o.tag ? `tag ${o.tag}` : 'everything', result));
    });
  queue
    .command('resume')
    .description('resume one tag (--tag), or everything')
    .option('-t, --tag <tag>', 'the tag; absent: everything')
    .action(async (o) => {
      const result = await fromFlags(PAUSE_FLAGS, clientFrom(flags()).call('resumeQueue', { body: { tag: o.tag } }));
      print(result, !!flags().json, () => pauseSummary(o.tag ? `tag ${o.tag}` : 'everything', result));
    });
  queue
    .command('pauses')
    .description('what is paused now')
    .action(async () => {
      const { items } = await clientFrom(flags()).call('listPauses');
      print(items, !!flags().json, () => (items.length ? table(items, ['scope', 'workflow_id', 'step_id', 'tag', 'paused_at', 'paused_by']) : 'nothing is paused'));
    });
}
