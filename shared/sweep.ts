// Expands a parameter sweep (shared/schemas/sweep.ts) into its tasks. Pure: no I/O, so
// the sweep route and anything else that submits sweeps (schedules) expand them the same
// way. compileSweep checks the whole grid once (sizes, repeats, placeholders) without
// expanding it; task(i) then builds the i-th task on demand, so a caller can hold a slice
// of a 100,000-task sweep at a time rather than all of it.
//
// Placeholders: `{name}` in the template's name, command, container, inputs, resources,
// output and env values (not references to secrets) is replaced by the value of parameter `name`; `{{` and `}}` are literal braces; `${name}` is left to the shell (the
// parameter is in the task's environment too, so it expands to the same value); any other
// brace is literal, so `{print $1}` or `{1..3}` need no escaping. An unknown `{name}` is
// an error that names the field.
import { createHash } from 'node:crypto';
import type { z } from 'zod/v4';
import { MAX_SWEEP_TASKS } from './limits.js';
import type { SweepBody } from './schemas/sweep.js';
import { ContainerImage, EnvValue, InputUri, OutputUri, ResourceUri, sameLandingMessage, TaskInput, type EnvEntry, type TaskDefinition } from './schemas/task.js';
import { sameLandings } from './uri.js';

export interface SweepProblem {
  field: string;
  message: string;
}

export interface SweepTask {
  definition: TaskDefinition;
  /** Name -> value, as the task's env and its `parameters` hold them. */
  parameters: Record<string, string>;
}

export interface CompiledSweep {
  /** How many tasks the sweep makes. */
  size: number;
  /** The i-th task in grid order (product: the last parameter varies fastest), or why a replaced field is invalid. */
  task(index: number): SweepTask | SweepProblem[];
}

export type CompileResult =
  | { ok: true; sweep: CompiledSweep }
  | { ok: false; status: 400 | 413; errors: SweepProblem[] };

/** Literal text and parameter indices, in order. */
type Parts = (string | number)[];

interface Slot {
  /** Where the text goes in the definition: a field, or a field and an index or env name. */
  path: [string] | [string, string | number];
  /** How errors name it: `template.inputs[0]`, `template.env.REF`. */
  field: string;
  parts: Parts;
  schema: z.ZodType;
}

/** A refusal names at most this many problems: a list of 100,000 equal values is one mistake, not 99,999. */
export const MAX_PROBLEMS = 20;

const TOKEN = /\{\{|\}\}|(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const HASH_HEX = 24;

function parsePlaceholders(text: string, index: Map<string, number>, field: string): Parts | SweepProblem {
  const parts: Parts = [];
  let literal = '';
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    literal += text.slice(last, match.index);
    last = match.index + match[0].length;
    const [token, dollar, name] = match;
    if (token === '{{' || token === '}}') literal += token[0];
    else if (dollar) literal += token;
    else if (!index.has(name!)) {
      return {
        field,
        message: `unknown placeholder {${name}}: the parameters are ${[...index.keys()].join(', ')} (write {{ and }} for literal braces)`,
      };
    } else {
      if (literal) parts.push(literal);
      literal = '';
      parts.push(index.get(name!)!);
    }
  }
  literal += text.slice(last);
  if (literal || parts.length === 0) parts.push(literal);
  return parts;
}

const render = (parts: Parts, values: string[]) => parts.map((p) => (typeof p === 'number' ? values[p] : p)).join('');

function check(schema: z.ZodType, value: string, field: string, context: string): SweepProblem | null {
  const result = schema.safeParse(value);
  return result.success ? null : { field, message: result.error.issues[0]!.message + context };
}

/**
 * The parameters whose placeholder sits in the credentials of a URI of the template (before
 * the last `@` of its authority): such a URI is refused, and their values must not come back
 * in any refusal, an answer or a log line, whatever field the refusal is about.
 */
function credentialParameters(template: SweepBody['template'], names: string[]): Set<number> {
  const found = new Set<number>();
  for (const uri of [...template.inputs, ...template.resources, ...(template.output ? [template.output] : [])]) {
    const authority = /^[^:/?#]+:\/\/([^/?#]*)/.exec(uri)?.[1] ?? '';
    const userinfo = authority.slice(0, Math.max(0, authority.lastIndexOf('@')));
    names.forEach((name, p) => userinfo.includes(`{${name}}`) && found.add(p));
  }
  return found;
}

/** Parameter `p`'s value as a refusal names it. */
type Shown = (p: number, value: string) => string;

const byName = ([a]: readonly [string, unknown], [b]: readonly [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

/** JSON with the keys of every object sorted, so equal values give equal text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(byName);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex').slice(0, HASH_HEX);

/** A template's defaults, to leave out of its hash: a field whose default appears later does not change old sweeps' keys. */
const DEFAULTS: Record<string, unknown> = Object.fromEntries(
  Object.entries(TaskInput.parse({ command: '-' })).filter(([field]) => field !== 'command'),
);

/** The key prefix of a template without a key: a hash of what it says; its key, nulls and defaults left out. */
function templateHash(template: SweepBody['template']): string {
  const own = Object.fromEntries(
    Object.entries(template).filter(([k, v]) => k !== 'key' && v !== null && !(k in DEFAULTS && canonical(v) === canonical(DEFAULTS[k]))),
  );
  return sha256(canonical(own));
}

/** A task's key: the template's key (or its hash) and a hash of the parameters, names sorted. */
function taskKey(prefix: string, names: string[], values: string[]): string {
  const pairs = names.map((n, i) => [n, values[i]!] as const).sort(byName);
  return `${prefix}:${sha256(JSON.stringify(pairs))}`;
}

function gridSize(lists: string[][], mode: SweepBody['mode'], names: string[]): { size: number } | { status: 400 | 413; errors: SweepProblem[] } {
  if (mode === 'zip') {
    const length = lists[0]!.length;
    const other = lists.findIndex((l) => l.length !== length);
    if (other >= 0) {
      return {
        status: 400,
        errors: [{
          field: `parameters.${names[other]}`,
          message: `has ${lists[other]!.length} values and parameters.${names[0]} has ${length}: zip takes lists of one length`,
        }],
      };
    }
    if (length > MAX_SWEEP_TASKS) return { status: 413, errors: [{ field: 'parameters', message: `the lists make ${length} tasks; a sweep makes at most ${MAX_SWEEP_TASKS}` }] };
    return { size: length };
  }
  let size = 1;
  for (const list of lists) size *= list.length;
  if (size > MAX_SWEEP_TASKS) {
    return {
      status: 413,
      errors: [{ field: 'parameters', message: `the product of ${lists.map((l) => l.length).join(' × ')} values makes ${size} tasks; a sweep makes at most ${MAX_SWEEP_TASKS}` }],
    };
  }
  return { size };
}

/** Product: no value twice in a list. Zip: no combination twice. Either way every task of the grid is distinct. */
function repeats(lists: string[][], mode: SweepBody['mode'], names: string[], size: number, shown: Shown): SweepProblem[] {
  const errors: SweepProblem[] = [];
  if (mode === 'product') {
    lists.forEach((list, p) => {
      const first = new Map<string, number>();
      list.forEach((value, i) => {
        const seen = first.get(value);
        if (seen === undefined) first.set(value, i);
        else errors.push({ field: `parameters.${names[p]}[${i}]`, message: `repeats parameters.${names[p]}[${seen}] (${JSON.stringify(shown(p, value))})` });
      });
    });
    return errors.slice(0, MAX_PROBLEMS);
  }
  const first = new Map<string, number>();
  for (let i = 0; i < size && errors.length < MAX_PROBLEMS; i++) {
    const combination = JSON.stringify(lists.map((l) => l[i]));
    const seen = first.get(combination);
    if (seen === undefined) first.set(combination, i);
    else errors.push({ field: 'parameters', message: `combination ${i} repeats combination ${seen}: ${names.map((n, p) => `${n}=${shown(p, lists[p]![i]!)}`).join(' ')}` });
  }
  return errors;
}

function put(definition: Record<string, any>, path: Slot['path'], text: string): void {
  if (path.length === 1) definition[path[0]] = text;
  else definition[path[0]][path[1]] = text;
}

/**
 * The template's texts parsed for placeholders. Those without any are checked once and
 * written into `base` (unescaped); the others become slots, filled and checked per task.
 */
function slotsOf(base: Record<string, any>, index: Map<string, number>, errors: SweepProblem[]): Slot[] {
  const candidates: { path: Slot['path']; text: string; schema: z.ZodType }[] = [];
  if (base.name !== undefined) candidates.push({ path: ['name'], text: base.name, schema: TaskInput.shape.name });
  candidates.push({ path: ['command'], text: base.command, schema: TaskInput.shape.command });
  if (base.container) candidates.push({ path: ['container'], text: base.container, schema: ContainerImage });
  base.inputs.forEach((text: string, i: number) => candidates.push({ path: ['inputs', i], text, schema: InputUri }));
  base.resources.forEach((text: string, i: number) => candidates.push({ path: ['resources', i], text, schema: ResourceUri }));
  if (base.output) candidates.push({ path: ['output'], text: base.output, schema: OutputUri });
  for (const [name, value] of Object.entries(base.env as Record<string, EnvEntry>)) {
    if (index.has(name)) errors.push({ field: `template.env.${name}`, message: 'is a parameter: the sweep sets it to the value of the parameter' });
    // A reference to a secret is no text: every task refers to the same secret.
    else if (typeof value === 'string') candidates.push({ path: ['env', name], text: value, schema: EnvValue });
  }
  const slots: Slot[] = [];
  for (const { path, text, schema } of candidates) {
    const field = `template.${path[0]}${path.length === 1 ? '' : typeof path[1] === 'number' ? `[${path[1]}]` : `.${path[1]}`}`;
    const parts = parsePlaceholders(text, index, field);
    if (!Array.isArray(parts)) errors.push(parts);
    else if (parts.length === 1 && typeof parts[0] === 'string') {
      const problem = check(schema, parts[0], field, '');
      if (problem) errors.push(problem);
      put(base, path, parts[0]);
    } else slots.push({ path, field, parts, schema });
  }
  return slots;
}

export function compileSweep(sweep: SweepBody): CompileResult {
  const names = Object.keys(sweep.parameters);
  const lists = names.map((n) => sweep.parameters[n]!.map(String));
  const grid = gridSize(lists, sweep.mode, names);
  if ('status' in grid) return { ok: false, ...grid };
  const { size } = grid;
  const index = new Map(names.map((n, i) => [n, i]));
  const secret = credentialParameters(sweep.template, names);
  const shown: Shown = (p, value) => (secret.has(p) ? '***' : value);
  const errors = repeats(lists, sweep.mode, names, size, shown);
  const { key, ...template } = sweep.template;
  const base: Record<string, any> = { ...template, inputs: [...template.inputs], resources: [...template.resources], env: { ...template.env } };
  const slots = slotsOf(base, index, errors);
  if (errors.length) return { ok: false, status: 400, errors };

  const prefix = key ?? `sweep-${templateHash(sweep.template)}`;
  const strides = lists.map((_, p) => lists.slice(p + 1).reduce((n, l) => n * l.length, 1));
  const copied = [...new Set(slots.map((s) => s.path[0]).filter((f) => f === 'inputs' || f === 'resources'))];
  const replacesInputs = copied.includes('inputs');

  return {
    ok: true,
    sweep: {
      size,
      task(i) {
        const values = lists.map((list, p) => list[sweep.mode === 'zip' ? i : Math.floor(i / strides[p]!) % list.length]!);
        const parameters = Object.fromEntries(names.map((n, p) => [n, values[p]!]));
        const definition: Record<string, any> = { ...base, key: taskKey(prefix, names, values), env: { ...base.env, ...parameters } };
        for (const field of copied) definition[field] = [...base[field]];
        const problems: SweepProblem[] = [];
        const context = () => ` (with ${names.map((n, p) => `${n}=${shown(p, values[p]!)}`).join(' ')})`;
        for (const slot of slots) {
          const text = render(slot.parts, values);
          const problem = check(slot.schema, text, slot.field, context());
          if (problem) problems.push(problem);
          put(definition, slot.path, text);
        }
        // Each input was checked alone: two the values made equal would land under one name.
        if (replacesInputs) {
          for (const { index, earlier, name } of sameLandings(definition.inputs)) problems.push({ field: `template.inputs[${index}]`, message: sameLandingMessage(name, earlier) + context() });
        }
        return problems.length ? problems : { definition: definition as TaskDefinition, parameters };
      },
    },
  };
}
