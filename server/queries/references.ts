// The dependencies a task definition names that do not exist, as field errors. A submit reads
// them under its locks and expands its steps' tasks (commands/submitTasks.ts); a schedule's
// definition check reads them without a lock, changing nothing (schedules/rows.ts). Both name
// what is missing here, in the same words and fields.
import type { TaskDefinition } from '../../shared/schemas/task.js';
import type { FieldError } from '../errors.js';

const NOUN = { depends_on: 'task', depends_on_steps: 'step' } as const;

export function missingDependencies(
  defs: Pick<TaskDefinition, keyof typeof NOUN>[], kind: keyof typeof NOUN, known: { has(id: number): boolean }, field: (i: number) => string,
): FieldError[] {
  return defs.flatMap((d, i) => d[kind].flatMap((id, j) => (known.has(id) ? [] : [{ field: `${field(i)}${kind}[${j}]`, message: `${NOUN[kind]} ${id} does not exist` }])));
}
