// `labq workflow …` and `labq step …`.
import type { Command } from 'commander';
import { clientFrom, type ClientFlags } from './context.js';
import { counts, int, print, table } from './format.js';


export function workflowCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): void {
  const workflow = program.command('workflow').description('create and inspect workflows');
  workflow
    .command('create')
    .argument('<name>')
    .option('--description <text>')
    .action(async (name: string, o) => {
      const created = await clientFrom(flags()).createWorkflow({ name, description: o.description });
      print(created, !!flags().json, () => `workflow ${created.id} created`);
    });
  workflow
    .command('list')
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
    .requiredOption('-w, --workflow <id>', 'workflow id', int)
    .argument('<name>')
    .option('--description <text>')
    .action(async (name: string, o) => {
      const created = await clientFrom(flags()).createStep({ workflow_id: o.workflow, name, description: o.description });
      print(created, !!flags().json, () => `step ${created.id} created`);
    });
  step
    .command('list')
    .option('-w, --workflow <id>', 'workflow id', int)
    .action(async (o) => {
      const page = await clientFrom(flags()).listSteps({ workflow_id: o.workflow, limit: 1000 });
      print(page, !!flags().json, () =>
        table(page.items.map((s) => ({ ...s, tasks: counts(s.counts) })), ['id', 'workflow_id', 'name', 'tasks']),
      );
    });
  step
    .command('show')
    .argument('<id>', 'step id', int)
    .action(async (id: number) => {
      const s = await clientFrom(flags()).getStep(id);
      print(s, !!flags().json, () => `step ${s.id} ${s.name} (workflow ${s.workflow_id})\ntasks: ${counts(s.counts)}`);
    });
}
