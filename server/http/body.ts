// Reads a JSON request body with a size cap. Too large is 413, not JSON is 400; both
// before anything is touched.
import type { Context } from 'koa';
import { ProblemError, invalid } from '../errors.js';

export const MAX_BODY_BYTES = 64 * 1024 * 1024;

export async function readJsonBody(ctx: Context, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limit) throw new ProblemError(413, 'Payload too large', `the body is larger than ${limit} bytes`);
  if (!ctx.is('application/json')) {
    throw new ProblemError(415, 'Unsupported media type', 'send the body as application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ProblemError(413, 'Payload too large', `the body is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw invalid([{ field: '(body)', message: 'a JSON body is required' }]);
  try {
    return JSON.parse(text, (_key, value) => { if (typeof value === 'string' && /[\0\p{Cs}]/u.test(value)) throw new Error('a string holds a NUL character (\\u0000) or a lone surrogate, which cannot be stored'); return value; });
  } catch (error) {
    throw invalid([{ field: '(body)', message: `not valid JSON: ${(error as Error).message}` }]);
  }
}
