// Why a form's values were refused, kept where the user typed them: the server names each
// invalid field as it was sent (`requirements.cpus`, `inputs[1]`, `context.run`), and each
// input shows the refusals under its own name. What names no field of the form, or no field
// at all, is still kept, so that nothing the server said is lost.
import { LabqApiError } from '../../../shared/client.js';
import type { Problem } from '../../../shared/schemas/common.js';
import { describe } from './load.svelte.js';

export type FieldError = NonNullable<Problem['errors']>[number];

const under = (field: string, path: string) => path === field || path.startsWith(`${field}.`) || path.startsWith(`${field}[`);

/** Where under a field an error is: `memory_mb` of `requirements.memory_mb`; a list's item by its place, `entry 2` of `inputs[1]` (blank lines are not entries). */
function placeIn(field: string, path: string): string {
  const rest = path.slice(field.length);
  const item = /^\[(\d+)\](.*)$/.exec(rest);
  return item ? `entry ${Number(item[1]) + 1}${item[2]}` : rest.slice(1);
}

export class FieldErrors {
  list = $state<FieldError[]>([]);
  /** A refusal that names no field: the server's answer as a sentence, or the page's own. */
  general = $state<string | null>(null);
  /** The refusals of fields the form has no input for. */
  readonly unplaced = $derived(this.list.filter((e) => !this.fields.some((f) => under(f, e.field))));

  /**
   * `fields` are the form's inputs, named as the server names them once `prefix` is taken
   * off (a task's changes go under `set`, so the server says `set.command`).
   */
  constructor(private readonly fields: readonly string[], private readonly prefix = '') {}

  get any(): boolean {
    return this.list.length > 0 || this.general !== null;
  }

  /** The refusals of one field and of what is under it, as one line; undefined when it has none. */
  at(field: string): string | undefined {
    const found = this.list.filter((e) => under(field, e.field));
    return found.length ? found.map((e) => (e.field === field ? e.message : `${placeIn(field, e.field)}: ${e.message}`)).join('; ') : undefined;
  }

  /** Keeps why a call was refused: at its fields when the answer names them, else as a sentence. */
  refused(error: unknown): void {
    this.clear();
    const fields = error instanceof LabqApiError ? error.problem.errors : undefined;
    if (fields?.length) this.list = fields.map((f) => ({ field: f.field.startsWith(this.prefix) ? f.field.slice(this.prefix.length) : f.field, message: f.message }));
    else this.general = describe(error);
  }

  /** A value the page refuses itself, before sending anything. */
  refuse(field: string, message: string): void {
    this.clear();
    this.list = [{ field, message }];
  }

  clear(): void {
    this.list = [];
    this.general = null;
  }
}
