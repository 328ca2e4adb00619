// Building blocks shared by every request and response schema. The schemas are zod
// (v4 API) so that the same definition validates requests on the server, types the
// client, and is converted to JSON Schema for the OpenAPI document.
import { z } from 'zod/v4';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../limits.js';

export const Id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const IdParam = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** Free text for searches and for names looked up: PostgreSQL text cannot hold NUL. */
export const SearchText = z.string().min(1).max(200).regex(/^[^\0]*$/, 'must not contain NUL');

export const Timestamp = z.string().describe('ISO 8601 time');

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  request_id: z.string().optional(),
});
export type Problem = z.infer<typeof Problem>;

export const PageQuery = z.object({
  cursor: z.string().max(200).optional().describe('opaque cursor from a previous page'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().describe('pass as `cursor` to read the next page; null at the end'),
  });
}

/** A comma-separated query parameter, e.g. `status=pending,running`. */
export function csv<T extends z.ZodType<string, string>>(item: T) {
  return z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(item).min(1).max(100) as unknown as z.ZodType<z.output<T>[], string[]>);
}

/** A comma-separated list of ids, e.g. `ids=12,13,40`. */
export const csvIds = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
  .pipe(z.array(IdParam).min(1).max(1000) as unknown as z.ZodType<number[], string[]>);

/**
 * The message of a refinement that a body say something, said only when its fields are
 * otherwise valid: a field refused is dropped before object refinements run, and "give at
 * least one of" would be said beside the real reason.
 */
export const onlyWhenValid = (message: string) => ({ message, when: (payload: { issues: readonly unknown[] }) => payload.issues.length === 0 });
