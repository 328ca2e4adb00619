// `labq workflow …` and `labq step …`.
import type { Command } from 'commander';
import { clientFrom, type ClientFlags } from './context.js';
import { counts, int, print, table } from './format.js';


export function workflowCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): void {
  const workflow = program.command('workflow').description('create and inspect workflows');
  workflow
    .command('create')
    .description('create a workflow')
    .argument('<name>', 'its name (need not be unique)')
    .option('--description <text>')
    .action(async (name: string, o) => {
      const created = await clientFrom(flags()).createWorkflow({ name, description: o.description });
      print(created, !!flags().json, () => `workflow ${created.id} created`);
    });
  workflow
    .command('list')
    .description('list workflows with their task counts')
    .option('-q, --search <text>', 'text in the name')
    .option('--limit <n>', 'page size', int, 100)
    .option('--cursor <cursor>')
    .action(async (o) => {
      const page = await clientFrom(flags()).listWorkflows({ q: o.search, limit: o.limit, cursor: o.cursor });
      print(page, !!flags().json, () =>
        table(page.items.map((w) => ({ ...w, tasks: counts(w.counts) })), ['id', 'name', 'created_at', 'tasks']),
      );
    });
  workflow
    .command('show')
    .description("a workflow's task counts and its steps")
    .argument('<id>', 'workflow id', int)
    .action(async (id: number) => {
      const client = clientFrom(flags());
      const [w, steps] = await Promise.all([client.getWorkflow(id), client.listSteps({ workflow_id: id, limit: 1000 })]);
      print({ ...w, steps: steps.items }, !!flags().json, () =>
        `workflow ${w.id} ${w.name}\ntasks: ${counts(w.counts)}\n\n` +
        table(steps.items.map((s) => ({ ...s, tasks: counts(s.counts) })), ['id', 'name', 'tasks']),
      );
    });

  const step = program.command('step').description('create and inspect steps');
  step
    .command('create')
    .description('create a step in a workflow')
    .requiredOption('-w, --workflow <id>', 'workflow id', int)
    .argument('<name>', 'its name, unique within the workflow')
    .option('--description <text>')
    .action(async (name: string, o) => {
      const created = await clientFrom(flags()).createStep({ workflow_id: o.workflow, name, description: o.description });
      print(created, !!flags().json, () => `step ${created.id} created`);
    });
  step
    .command('list')
    .description('list steps (up to 1,000) with their task counts')
    .option('-w, --workflow <id>', 'workflow id', int)
    .action(async (o) => {
      const page = await clientFrom(flags()).listSteps({ workflow_id: o.workflow, limit: 1000 });
      print(page, !!flags().json, () =>
        table(page.items.map((s) => ({ ...s, tasks: counts(s.counts) })), ['id', 'workflow_id', 'name', 'tasks']),
      );
    });
  step
    .command('show')
    .description("a step's task counts")
    .argument('<id>', 'step id', int)
    .action(async (id: number) => {
      const s = await clientFrom(flags()).getStep(id);
      print(s, !!flags().json, () => `step ${s.id} ${s.name} (workflow ${s.workflow_id})\ntasks: ${counts(s.counts)}`);
    });
}
