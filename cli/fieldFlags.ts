// The API names the fields it refuses as its body spells them (`expires_in`,
// `submit.tasks[0].priority`); a user of the CLI typed flags (`--expires`, `-p`). A command
// that builds a body from its flags says which flag set which field, and main's printer of
// problem+json names a refused field by its flag. A body read from a file (-f) keeps the
// API's names: there the user wrote them.
import { LabqApiError } from '../shared/client.js';

/** A body's field, as problem+json names it (a prefix of it covers its parts), and the flag that set it. */
export type FieldFlags = Readonly<Record<string, string>>;

const sentWith = new WeakMap<LabqApiError, FieldFlags>();

/** The answer of a call whose body (or query) came from these flags; a refusal remembers them. */
export async function fromFlags<T>(flags: FieldFlags, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof LabqApiError) sentWith.set(error, flags);
    throw error;
  }
}

/** The same flags for a part of a body: a task's fields where a schedule holds them at `submit.tasks[0]`. */
export function nested(prefix: string, flags: FieldFlags): FieldFlags {
  return Object.fromEntries(Object.entries(flags).map(([field, flag]) => [`${prefix}.${field}`, flag]));
}

/**
 * The name of a field the API refused: the flag that set it, followed by the part refused
 * (`--env 1BAD`, `--input [1]`) when it is a part of that flag's value; else the API's name.
 */
export function fieldName(error: LabqApiError, field: string): string {
  const flags = sentWith.get(error);
  if (!flags) return field;
  const set = Object.keys(flags)
    .filter((key) => field === key || field.startsWith(`${key}.`) || field.startsWith(`${key}[`))
    .sort((a, b) => b.length - a.length)[0];
  if (set === undefined) return field;
  const part = field.slice(set.length).replace(/^\./, '');
  return part ? `${flags[set]} ${part}` : flags[set]!;
}
