// A parameter sweep: one task template and a grid of parameters, sent as one request
// (POST /sweeps) and expanded on the server into one task per combination
// (shared/sweep.ts). The body is a schema of its own so that whatever else submits
// sweeps (schedules) takes the same shape.
import { z } from 'zod/v4';
import { Id } from './common.js';
import { EnvName, TaskInput } from './task.js';

const MAX_SWEEP_PARAMETERS = 32;
/** How long a template's key may be: the sweep appends `:` and a hash of the parameters. */
const MAX_SWEEP_KEY = 150;

/** Names the worker sets itself in every task's environment (worker/runners/types.ts, labqEnv): a parameter may not take them. */
export const RESERVED_ENV_NAMES = ['INPUT', 'OUTPUT', 'TEMP', 'RESOURCE', 'CPU'] as const;

const Text = z.string().max(4096);

/**
 * A task as POST /tasks takes it, in which name, command, container, inputs, resources,
 * output and the values of env may hold `{name}` placeholders: those whose values have a
 * format (URIs, the image) are checked once the placeholders are replaced, task by task.
 */
export const SweepTemplate = TaskInput.extend({
  container: z.string().min(1).max(512).nullable().optional(),
  inputs: z.array(Text.min(1)).max(10_000).default([]),
  resources: z.array(Text.min(1)).max(1000).default([]),
  output: Text.min(1).nullable().optional(),
  key: z
    .string()
    .min(1)
    .max(MAX_SWEEP_KEY)
    .optional()
    .describe("the sweep's name for idempotency: each task's key is `<key>:<hash of its parameters>`"),
});

const ParameterValue = z.union([z.string().max(4096), z.number().finite()]);

const SweepMode = z.enum(['product', 'zip']);

export const Sweep = z.strictObject({
  template: SweepTemplate,
  parameters: z
    .record(
      EnvName.refine((name) => !(RESERVED_ENV_NAMES as readonly string[]).includes(name), {
        message: `the worker sets ${RESERVED_ENV_NAMES.join(', ')} itself`,
      }),
      z.array(ParameterValue).min(1, 'needs at least one value'),
    )
    .refine((p) => Object.keys(p).length > 0, 'needs at least one parameter')
    .refine((p) => Object.keys(p).length <= MAX_SWEEP_PARAMETERS, `at most ${MAX_SWEEP_PARAMETERS} parameters`)
    .describe('name -> list of values (strings or numbers; numbers become strings); each name is also an environment variable'),
  mode: SweepMode.default('product').describe('product: every combination; zip: the i-th value of every list together'),
});
export type SweepInput = z.input<typeof Sweep>;
export type SweepBody = z.output<typeof Sweep>;

export const SweepResponse = z.object({
  total: z.number().int().describe('tasks in the sweep'),
  created: z.number().int().describe('tasks created by this request'),
  existing: z.number().int().describe('tasks that existed already (same key in the same workflow)'),
  ids: z.array(Id).describe('the id of every task of the sweep, in the order of the grid'),
});
export type SweepResponse = z.infer<typeof SweepResponse>;
