// `labq sweep submit`: one task template (the options of `labq task submit`) and a grid of
// parameters from --param / --param-file, or a whole sweep from a JSON file; one request.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { SweepInput, SweepResponse } from '../shared/schemas/sweep.js';
import { clientFrom, type ClientFlags } from './context.js';
import { fromFlags, nested } from './fieldFlags.js';
import { print } from './format.js';
import { readJsonFile } from './input.js';
import { collect, TASK_FLAGS, taskFromFlags, taskOptions } from './tasks.js';

function nameAndRest(flag: string, pair: string): [string, string] {
  const eq = pair.indexOf('=');
  if (eq < 1) throw new Error(`${flag} takes NAME=…, got "${pair}"`);
  return [pair.slice(0, eq), pair.slice(eq + 1)];
}

/** --param NAME=V1,V2 and --param-file NAME=FILE (one value a line), in the order given. */
async function parametersFrom(params: string[], files: string[]): Promise<Record<string, string[]>> {
  const parameters: Record<string, string[]> = {};
  const add = (name: string, values: string[]) => {
    if (name in parameters) throw new Error(`parameter ${name} is given twice`);
    parameters[name] = values;
  };
  for (const pair of params) {
    const [name, list] = nameAndRest('--param', pair);
    add(name, list.split(','));
  }
  for (const pair of files) {
    const [name, file] = nameAndRest('--param-file', pair);
    add(name, (await readFile(file, 'utf8')).split(/\r?\n/).filter((line) => line.trim() !== ''));
  }
  if (Object.keys(parameters).length === 0) throw new Error('give the parameters with --param NAME=V1,V2 or --param-file NAME=FILE, or a sweep with -f');
  return parameters;
}

/** Ids as ranges: `1-4, 7, 9-12`. */
function idRanges(ids: number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < ids.length; ) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j]! + 1) j++;
    runs.push(i === j ? String(ids[i]) : `${ids[i]}-${ids[j]}`);
    i = j + 1;
  }
  return runs.join(', ');
}

function summary(result: SweepResponse): string {
  return `sweep: ${result.total} tasks, ${result.created} created, ${result.existing} existing\nids: ${idRanges(result.ids)}`;
}

export function sweepCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): void {
  const sweep = program.command('sweep').description('parameter sweeps: one task template, a grid of parameters');
  taskOptions(
    sweep
      .command('submit')
      .description('submit a sweep: the task options (with {name} placeholders) and --param, or a JSON sweep with -f')
      .argument('[command...]', 'the shell command, with {name} placeholders')
      .option('-c, --command <command>', 'the shell command (instead of the words after --)')
      .option('-P, --param <NAME=V1,V2,…>', 'a parameter and its values, comma-separated; repeatable', collect)
      .option('--param-file <NAME=FILE>', 'a parameter whose values are the lines of FILE; repeatable', collect)
      .option('--zip', 'the i-th values of every parameter together, instead of every combination')
      .option('-f, --file <file>', 'JSON: { "template": {...}, "parameters": {...}, "mode": ... }; - for stdin'),
  ).action(async (words: string[], o) => {
    let body: SweepInput;
    if (o.file) {
      body = await readJsonFile<SweepInput>(o.file);
    } else {
      if (o.command && words.length) throw new Error('give the command with --command or after --, not both');
      body = {
        template: taskFromFlags(o.command ? [o.command] : words, o),
        parameters: await parametersFrom(o.param ?? [], o.paramFile ?? []),
        mode: o.zip ? 'zip' : 'product',
      };
    }
    const submitted = clientFrom(flags()).submitSweep(body);
    const result = await (o.file ? submitted : fromFlags({ ...nested('template', TASK_FLAGS), parameters: '--param/--param-file', mode: '--zip' }, submitted));
    print(result, !!flags().json, () => summary(result));
  });
}
