// `labq task …`: submit, list, show, logs, kill, suspend, continue, events.
import { Option, type Command } from 'commander';
import { LabqApiError, type LabqClient } from '../shared/client.js';
import type { EventRecord } from '../shared/schemas/event.js';
import { FAILURE_CLASSES, type Execution } from '../shared/schemas/execution.js';
import { isFinalTask, TASK_SORTS, TASK_STATUSES, WAITING_REASONS, type SubmitTasksResponse, type TaskInput, type TaskStatus } from '../shared/schemas/task.js';
import { clientFrom, type ClientFlags } from './context.js';
import { fromFlags, type FieldFlags } from './fieldFlags.js';
import { bytes, collectInts, elapsed, int, print, table } from './format.js';
import { readJsonFile } from './input.js';

export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The options of a task's fields, shared by `task submit` and `sweep submit`. */
export function taskOptions(command: Command): Command {
  return command
    .option('-n, --name <name>')
    .option('--shell <shell>', 'sh (default), bash, python3, …')
    .option('-i, --image <image>', 'Docker image; absent: bare shell')
    .option('--container-option <option>', 'repeatable, e.g. --container-option=--memory=8g', collect)
    .option('--input <uri>', 'repeatable', collect)
    .option('--resource <uri>', 'repeatable', collect)
    .option('-o, --output <uri>')
    .option('-w, --workflow <id>', 'workflow id', int)
    .option('-s, --step <id>', 'step id', int)
    .option('-t, --tag <tag>')
    .option('-p, --priority <n>', 'higher runs first', int)
    .option('-d, --depends-on <id>', 'repeatable', collectInts)
    .option('--max-retries <n>', '', int)
    .option('-e, --env <NAME=VALUE>', 'repeatable', collect)
    .option('--secret-env <NAME=SECRET>', 'the variable NAME gets the value of a secret (labq secret set); repeatable', collect)
    .option('-k, --key <key>', 'idempotency key within the workflow')
    .option('--held', 'submit held');
}

/** The flag of each field that taskFromFlags sets (the command is the words after --, or -c). */
export const TASK_FLAGS: FieldFlags = {
  name: '--name', shell: '--shell', container: '--image', container_options: '--container-option', inputs: '--input',
  resources: '--resource', output: '--output', workflow_id: '--workflow', step_id: '--step', tag: '--tag', priority: '--priority',
  depends_on: '--depends-on', max_retries: '--max-retries', key: '--key', env: '--env/--secret-env', held: '--held',
};

export function taskFromFlags(command: string[], o: Record<string, any>): TaskInput {
  if (command.length === 0) throw new Error('give the command after --, or a file with -f');
  const pairs = (flag: string, values: string[] | undefined, shape: string) => (values ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`${flag} takes ${shape}, got "${pair}"`);
    return [pair.slice(0, eq), pair.slice(eq + 1)] as const;
  });
  const env = Object.fromEntries([
    ...pairs('--env', o.env, 'NAME=VALUE'),
    ...pairs('--secret-env', o.secretEnv, 'NAME=SECRET').map(([name, secret]) => [name, { secret }] as const),
  ]);
  return {
    command: command.join(' '),
    ...(o.name && { name: o.name }),
    ...(o.shell && { shell: o.shell }),
    ...(o.image && { container: o.image }),
    ...(o.containerOption && { container_options: o.containerOption }),
    ...(o.input && { inputs: o.input }),
    ...(o.resource && { resources: o.resource }),
    ...(o.output && { output: o.output }),
    ...(o.workflow !== undefined && { workflow_id: o.workflow }),
    ...(o.step !== undefined && { step_id: o.step }),
    ...(o.tag && { tag: o.tag }),
    ...(o.priority !== undefined && { priority: o.priority }),
    ...(o.dependsOn && { depends_on: o.dependsOn }),
    ...(o.maxRetries !== undefined && { max_retries: o.maxRetries }),
    ...(o.key && { key: o.key }),
    ...(o.held && { held: true }),
    ...(Object.keys(env).length && { env }),
  };
}

/** A transfer's figures as a line: `downloading 120.0 MiB of 200.0 MiB (60%)`. */
export function transferLine(p: NonNullable<Execution['progress']>): string {
  const share = p.bytes_total > 0 ? ` (${Math.floor((100 * p.bytes_done) / p.bytes_total)}%)` : '';
  return `${p.phase} ${bytes(p.bytes_done)} of ${bytes(p.bytes_total)}${share}`;
}

/** The flag of each criterion of a task filter, the same in `task list` and the bulk commands. */
export const FILTER_FLAGS: FieldFlags = {
  workflow_id: '--workflow', step_id: '--step', status: '--status', tag: '--tag', q: '--search', worker_id: '--worker',
  failure_class: '--failure-class', reason: '--why', all: '--all',
};

/** `--why`, and not `--reason`: the bulk commands' `--reason` is the text their events record. */
export const WHY_HELP = `the tasks not started that wait for this main reason now, as \`labq step why\` counts them: ${WAITING_REASONS.join(', ')}`;

/** The statuses in which a task that has not run yet may still start; in any other, it never will. */
const MAY_START: readonly TaskStatus[] = ['waiting', 'held', 'pending'];

/** The execution to read: the one asked for, else the task's latest, waited for when following. */
async function executionToRead(client: LabqClient, taskId: number, asked: number | undefined, follow: boolean): Promise<Execution> {
  if (asked !== undefined) {
    const execution = await client.getExecution(asked);
    if (execution.task_id !== taskId) throw new Error(`execution ${asked} belongs to task ${execution.task_id}, not to task ${taskId}`);
    return execution;
  }
  for (let told = false; ; told = true) {
    const task = await client.getTask(taskId);
    const latest = task.executions.find((x) => x.id === task.execution_id);
    if (latest) return latest;
    if (!MAY_START.includes(task.status)) throw new Error(`task ${taskId} is ${task.status}: it never ran`);
    if (!follow) throw new Error(`task ${taskId} has not started yet (${task.status})`);
    if (!told) process.stderr.write(`[labq: task ${taskId} is ${task.status}; waiting for it to start]\n`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * How an execution ended. Not succeeding fails the command, through main's error line and
 * status 1 (process.exitCode would not do: a dependency's exit hook resets it to 0).
 */
function end(x: Execution): void {
  const what = `execution ${x.id} ${x.status}${x.exit_code === null ? '' : ` (exit code ${x.exit_code})`}${x.error ? `: ${x.error}` : ''}`;
  if (x.status !== 'succeeded') throw new Error(what);
  // On stderr, so that stdout holds the output alone.
  process.stderr.write(`[labq: ${what}]\n`);
}

/**
 * Asks the server to suspend or continue each task in turn. A refusal (not found, nothing
 * live to signal) is told on stderr and the others are still asked; any refusal fails the
 * command once all have been asked.
 */
async function signalEach(
  ids: number[], json: boolean, call: (id: number) => Promise<{ result: string; execution_id: number }>,
): Promise<void> {
  const outcomes: { task_id: number; result?: string; execution_id?: number; status?: number; error?: string }[] = [];
  for (const id of ids) {
    try {
      outcomes.push({ task_id: id, ...(await call(id)) });
    } catch (error) {
      if (!(error instanceof LabqApiError)) throw error;
      outcomes.push({ task_id: id, status: error.status, error: error.problem.detail || error.message });
    }
  }
  const failed = outcomes.filter((o) => o.error !== undefined);
  // Nothing done is said on stderr alone, as by the other commands: no empty line on stdout.
  if (json || failed.length < outcomes.length) print(outcomes, json, () =>
    outcomes.filter((o) => o.result).map((o) => `task ${o.task_id}: ${o.result!.replace('_', ' ')} (execution ${o.execution_id})`).join('\n'));
  if (failed.length > 0) throw new Error(failed.map((o) => o.error).join('; '));
}

export function taskCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): Command {
  const task = program.command('task').description('submit, list and inspect tasks');

  taskOptions(
    task
      .command('submit')
      .description('submit a task from flags (labq task submit [options] -- CMD…) or tasks from a JSON file (-f FILE, - for stdin)')
      .argument('[command...]', 'the shell command')
      .option('-f, --file <file>', 'JSON: one task, an array of tasks, or { "tasks": [...] }'),
  )
    .action(async (command: string[], o) => {
      const client = clientFrom(flags());
      let submitted: Promise<SubmitTasksResponse>;
      if (o.file) {
        const parsed = await readJsonFile<Parameters<LabqClient['submitTasks']>[0] | TaskInput[]>(o.file);
        submitted = client.submitTasks(Array.isArray(parsed) ? { tasks: parsed } : parsed);
      } else {
        submitted = fromFlags(TASK_FLAGS, client.submitTasks(taskFromFlags(command, o)));
      }
      const result = await submitted;
      print(result, !!flags().json, () => table(result.tasks, ['id', 'status', 'key', 'created']));
    });

  task
    .command('list')
    .description('list tasks')
    .option('--status <list>', `comma-separated statuses: ${TASK_STATUSES.join(', ')}`)
    .option('--ids <list>', 'comma-separated task ids')
    .option('-w, --workflow <id>', 'tasks of one workflow', int)
    .option('-s, --step <id>', 'tasks of one step', int)
    .option('-t, --tag <tag>', 'tasks with this tag')
    .option('-q, --search <text>', 'text in the command')
    .option('--worker <id>', 'tasks whose latest attempt ran on this worker', int)
    .option('--failure-class <list>', `tasks whose latest attempt failed so, comma-separated: ${FAILURE_CLASSES.join(', ')}`)
    .option('--why <reason>', WHY_HELP)
    .option('--sort <order>', `${TASK_SORTS.join(', ')} (- for descending)`, 'id')
    .option('--limit <n>', 'page size', int, 100)
    .option('--offset <n>', 'skip this many tasks of the order', int)
    .option('--cursor <cursor>', 'the next page, as printed after more:')
    .action(async (o) => {
      const client = clientFrom(flags());
      const page = await fromFlags({ ...FILTER_FLAGS, ids: '--ids', sort: '--sort', limit: '--limit', offset: '--offset', cursor: '--cursor' },
        client.listTasks({
          ids: o.ids, status: o.status, workflow_id: o.workflow, step_id: o.step, tag: o.tag, q: o.search, worker_id: o.worker,
          failure_class: o.failureClass, reason: o.why, sort: o.sort, limit: o.limit, offset: o.offset, cursor: o.cursor,
        } as any));
      // Tasks made by a sweep show their parameters, as name=value pairs in the order of the names.
      const swept = page.items.some((t) => t.parameters);
      const rows = page.items.map((t) => ({
        ...t,
        command: t.command.replace(/\s+/g, ' '),
        parameters: Object.keys(t.parameters ?? {}).sort().map((name) => `${name}=${t.parameters![name]}`).join(' '),
      }));
      print(page, !!flags().json, () =>
        table(rows.map((t) => ({
          ...t,
          status: t.paused && !isFinalTask(t.status) ? `${t.status} (paused)` : t.status,
          exit: t.latest?.exit_code,
          elapsed: t.latest?.duration_seconds === null || t.latest === null ? null : elapsed(t.latest.duration_seconds),
          worker: t.latest?.worker_name,
        })), ['id', 'status', 'attempts', 'exit', 'elapsed', 'worker', 'tag', 'name', ...(swept ? ['parameters'] : []), 'command']) +
          (page.next_cursor ? `\nmore: --cursor ${page.next_cursor}` : ''),
      );
    });

  task
    .command('show')
    .description('one task with its executions (JSON); the transfer of a live execution, on stderr')
    .argument('<id>', 'task id', int)
    .action(async (id: number) => {
      const detail = await clientFrom(flags()).getTask(id);
      print(detail, true, () => '');
      // For a person watching: stdout stays the JSON that scripts read.
      if (!flags().json) for (const x of detail.executions) if (x.progress) process.stderr.write(`execution ${x.id}: ${transferLine(x.progress)}\n`);
    });

  task
    .command('logs')
    .description("a task's output (its latest execution) and how it ended; -f follows it live until it ends")
    .argument('<id>', 'task id', int)
    .option('-f, --follow', 'stream the output as it comes')
    .addOption(new Option('--stream <stream>', 'stdout or stderr only').choices(['stdout', 'stderr']))
    .option('-x, --execution <id>', 'an earlier execution of the task', int)
    .action(async (id: number, o) => {
      const client = clientFrom(flags());
      const execution = await executionToRead(client, id, o.execution, !!o.follow);
      if (!o.follow) {
        // Its status was read before the output: if it had ended then, this is all of it.
        process.stdout.write(await client.executionOutputBytes(execution.id, o.stream));
        if (execution.finished_at !== null) end(execution);
        return;
      }
      for await (const message of client.stream('executionOutput', { params: { id: execution.id }, query: { follow: '1', stream: o.stream } })) {
        if (message.event === 'end') {
          end(await client.getExecution(execution.id));
          return;
        }
        const data = JSON.parse(message.data);
        (data.stream === 'stderr' ? process.stderr : process.stdout).write(data.text);
      }
    });

  task
    .command('kill')
    .description('kill a task: TERM then KILL after the grace if it runs; cancel it if not started')
    .argument('<id>', 'task id', int)
    .option('-g, --grace <seconds>', 'seconds between TERM and KILL', int, 10)
    .action(async (id: number, o) => {
      const { result } = await clientFrom(flags()).killTask(id, o.grace);
      print({ result }, !!flags().json, () => (result === 'cancelled' ? `task ${id} cancelled` : `task ${id}: kill requested`));
    });

  const signals = [
    ['suspend', "suspend running tasks (Docker pause, SIGSTOP to a bare task's process group); one not started yet is suspended as it starts",
      (client: LabqClient, id: number) => client.suspendTask(id)],
    ['continue', 'let suspended tasks go on', (client: LabqClient, id: number) => client.continueTask(id)],
  ] as const;
  for (const [name, description, call] of signals) {
    task
      .command(name)
      .description(description)
      .argument('<ids...>', 'task ids', collectInts)
      .action(async (ids: number[]) => {
        const client = clientFrom(flags());
        await signalEach(ids, !!flags().json, (id) => call(client, id));
      });
  }

  task
    .command('events')
    .description("a task's events")
    .argument('<id>', 'task id', int)
    .action(async (id: number) => {
      const client = clientFrom(flags());
      const items: EventRecord[] = [];
      let after: string | null = null;
      do {
        const page = await client.taskEvents(id, { limit: 1000, ...(after ? { after } : {}) });
        items.push(...page.items);
        after = page.next_cursor;
      } while (after);
      print(items, !!flags().json, () =>
        table(items.map((e) => ({ ...e, actor: e.meta.actor })), ['position', 'created_at', 'type', 'actor', 'data']),
      );
    });
  return task;
}
