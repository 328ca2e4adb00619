// `labq task …`: submit, list, show, events.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { EventRecord } from '../shared/schemas/event.js';
import type { TaskInput } from '../shared/schemas/task.js';
import { clientFrom, type ClientFlags } from './context.js';
import { int, print, table } from './format.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function taskFromFlags(command: string[], o: Record<string, any>): TaskInput {
  if (command.length === 0) throw new Error('give the command after --, or a file with -f');
  const env = Object.fromEntries(
    (o.env ?? []).map((pair: string) => {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new Error(`--env takes NAME=VALUE, got "${pair}"`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    }),
  );
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
    ...(o.dependsOn && { depends_on: o.dependsOn.map(int) }),
    ...(o.maxRetries !== undefined && { max_retries: o.maxRetries }),
    ...(o.key && { key: o.key }),
    ...(o.held && { held: true }),
    ...(Object.keys(env).length && { env }),
  };
}

export function taskCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): void {
  const task = program.command('task').description('submit, list and inspect tasks');

  task
    .command('submit')
    .description('submit a task from flags (labq task submit [options] -- CMD…) or tasks from a JSON file (-f FILE, - for stdin)')
    .argument('[command...]', 'the shell command')
    .option('-f, --file <file>', 'JSON: one task, an array of tasks, or { "tasks": [...] }')
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
    .option('-d, --depends-on <id>', 'repeatable', collect)
    .option('--max-retries <n>', '', int)
    .option('-e, --env <NAME=VALUE>', 'repeatable', collect)
    .option('-k, --key <key>', 'idempotency key within the workflow')
    .option('--held', 'submit held')
    .action(async (command: string[], o) => {
      const client = clientFrom(flags());
      let body: unknown;
      if (o.file) {
        const parsed = JSON.parse(o.file === '-' ? await readStdin() : await readFile(o.file, 'utf8'));
        body = Array.isArray(parsed) ? { tasks: parsed } : parsed;
      } else {
        body = taskFromFlags(command, o);
      }
      const result = await client.submitTasks(body as TaskInput);
      print(result, !!flags().json, () => table(result.tasks, ['id', 'status', 'key', 'created']));
    });

  task
    .command('list')
    .description('list tasks')
    .option('--status <list>', 'comma-separated statuses')
    .option('-w, --workflow <id>', '', int)
    .option('-s, --step <id>', '', int)
    .option('-t, --tag <tag>')
    .option('-q, --search <text>', 'text in the command')
    .option('--limit <n>', 'page size', int, 100)
    .option('--cursor <cursor>')
    .action(async (o) => {
      const client = clientFrom(flags());
      const page = await client.listTasks({
        status: o.status, workflow_id: o.workflow, step_id: o.step, tag: o.tag, q: o.search, limit: o.limit, cursor: o.cursor,
      } as any);
      print(page, !!flags().json, () =>
        table(page.items.map((t) => ({ ...t, command: t.command.replace(/\s+/g, ' ') })), ['id', 'status', 'name', 'tag', 'priority', 'command']) +
          (page.next_cursor ? `\nmore: --cursor ${page.next_cursor}` : ''),
      );
    });

  task
    .command('show')
    .description('one task with its executions')
    .argument('<id>', 'task id', int)
    .action(async (id: number) => {
      const detail = await clientFrom(flags()).getTask(id);
      print(detail, true, () => '');
    });

  task
    .command('logs')
    .description("a task's output (its latest execution); -f follows it live until it ends")
    .argument('<id>', 'task id', int)
    .option('-f, --follow', 'stream the output as it comes')
    .option('--stream <stream>', 'stdout or stderr only')
    .option('-x, --execution <id>', 'an earlier execution of the task', int)
    .action(async (id: number, o) => {
      const client = clientFrom(flags());
      let executionId: number | null = o.execution ?? null;
      while (executionId === null) {
        const t = await client.getTask(id);
        executionId = t.execution_id;
        if (executionId === null) {
          if (!o.follow) throw new Error(`task ${id} has not started yet (${t.status})`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      if (!o.follow) {
        process.stdout.write(await client.executionOutput(executionId, o.stream));
        return;
      }
      for await (const message of client.stream('executionOutput', { params: { id: executionId }, query: { follow: '1', stream: o.stream } })) {
        const data = JSON.parse(message.data);
        if (message.event === 'end') {
          process.stderr.write(`[labq: execution ${executionId} ${data.status}]\n`);
          return;
        }
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
}
