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

/**
 * Zod's own messages, but a missing field is called required, not "expected string, received
 * undefined" nor, for a field of a few values (a role), "Invalid option: expected one of …";
 * a parameter that is not a number (`/tasks/abc`), which zod reads as NaN, is not said to be
 * NaN; nor is a number too large for a double (`1e400`, Infinity once parsed) said to be no number.
 */
export const issueMessage: z.core.$ZodErrorMap = (issue) => {
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && issue.input === undefined) return 'required';
  if (issue.code === 'invalid_type' && issue.expected === 'number' && typeof issue.input === 'number') {
    return Number.isNaN(issue.input) ? 'must be a number' : 'must be a finite number';
  }
  return undefined;
};

/** The value is not of the option's type at all (not a number that is not whole: zod reports that as a type too, with a format). */
const rootType = (issue: z.core.$ZodIssue): issue is z.core.$ZodIssueInvalidType =>
  issue.code === 'invalid_type' && issue.path.length === 0 && !('format' in issue);
/** An object option whose own fields are not the value's (`{"tasks": …}` for the `{"sweep": …}` option). */
const otherShape = (issue: z.core.$ZodIssue) => issue.code === 'unrecognized_keys' && issue.path.length === 0;

/**
 * What a union's failure stands for. Zod says only "Invalid input" for a value that matches
 * none of its options: a string too long for an env value, a bad secret name in
 * `{"secret": …}`, a bad field in a schedule's `{"tasks": …}`. The one option the value had
 * the type (and, for objects, the fields) of tells why, at its own field; a value of no
 * option's type gets the types it could have had. Where several options fit as well (an object
 * with the fields of none), none is surer than another: the union's own message stays.
 */
function unionIssues(issue: z.core.$ZodIssueInvalidUnion): z.core.$ZodIssue[] {
  if (issue.errors.length === 0) return [issue];
  const typed = issue.errors.filter((option) => !option.some(rootType));
  const shaped = typed.filter((option) => !option.some(otherShape));
  const fit = typed.length === 1 ? typed[0] : shaped.length === 1 ? shaped[0] : undefined;
  if (fit) return fit.flatMap((i) => expanded({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
  if (typed.length > 0) return [issue];
  // Missing altogether: each option said so.
  if (issue.errors.every((option) => option.some((i) => rootType(i) && i.message === 'required'))) return [{ ...issue, message: 'required' }];
  const expected = [...new Set(issue.errors.flat().filter(rootType).map((i) => i.expected))];
  const received = /received (\S+)$/.exec(issue.errors[0]?.[0]?.message ?? '')?.[1];
  const types = expected.length > 1 ? `${expected.slice(0, -1).join(', ')} or ${expected.at(-1)}` : expected[0];
  return [{ ...issue, message: `Invalid input: expected ${types}${received ? `, received ${received}` : ''}` }];
}

const expanded = (issue: z.core.$ZodIssue): z.core.$ZodIssue[] => (issue.code === 'invalid_union' ? unionIssues(issue) : [issue]);

/**
 * One bound per side and field: a number past every bound of its schema (the safe integers',
 * then the field's own) would say "too big" twice, and the tightest bound is the one to tell.
 */
function tightest(issues: z.core.$ZodIssue[], prefix: string): z.core.$ZodIssue[] {
  const best = new Map<string, z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall>();
  const bound = (i: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall) => Number('maximum' in i ? i.maximum : i.minimum);
  for (const issue of issues) {
    if (issue.code !== 'too_big' && issue.code !== 'too_small') continue;
    const key = `${issue.code}\u0000${fieldPath(issue.path, prefix)}`;
    const kept = best.get(key);
    if (!kept || (issue.code === 'too_big' ? bound(issue) < bound(kept) : bound(issue) > bound(kept))) best.set(key, issue);
  }
  const kept = new Set<z.core.$ZodIssue>(best.values());
  return issues.filter((issue) => (issue.code !== 'too_big' && issue.code !== 'too_small') || kept.has(issue));
}

export function fieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of tightest(error.issues.flatMap(expanded), prefix)) {
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
