// Turns zod issues into the field errors of a problem+json answer, with fields named
// the way a user wrote them (`tasks[3].priority`, `env.1BAD`, `(body)`) and a missing
// field called required.
import type { z } from 'zod/v4';
import type { FieldError } from '../errors.js';

export function fieldPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Zod's own messages, but a missing field is called required, not "expected string, received undefined". */
export const issueMessage: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined;

export function fieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.push({ field: fieldPath([...issue.path, key], prefix), message: 'unknown field' });
    } else if (issue.code === 'invalid_key') {
      errors.push({ field: fieldPath(issue.path, prefix), message: `invalid name: ${issue.issues.map((i) => i.message).join('; ')}` });
    } else {
      errors.push({ field: fieldPath(issue.path, prefix) || '(body)', message: issue.message });
    }
  }
  return errors;
}
