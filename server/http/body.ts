// Reads a JSON request body with a size cap. Too large is 413; not UTF-8, not JSON, nested
// deeper than any request schema goes, or holding a string PostgreSQL cannot store is 400;
// all before anything is touched.
import { isUtf8 } from 'node:buffer';
import type { Context } from 'koa';
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from '../../shared/limits.js';
import { ProblemError, invalid } from '../errors.js';

/**
 * Whether arrays and objects nest deeper than `max` in a JSON text (valid or not). Checked
 * before parsing because a deep enough text would exhaust the stack (of the reviver, when a
 * `\u` escape calls for it, or of the request's schema) and be refused with a message about
 * the stack instead of the body.
 */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Whether a JSON text holds a `\\u` escape. A NUL or a lone surrogate can only reach a parsed
 * string through one: JSON refuses a raw NUL (a control character) inside a string, and a
 * surrogate's own bytes are not UTF-8, which is refused before. Without one, the text parses
 * with no reviver, which calls back on every value and took about 4 % of the server's busy
 * time under the workers' exchanges.
 */
const textEscapes = (text: string) => text.includes('\\u');

/** Thrown by the reviver: the JSON is valid, one of its strings cannot be stored. */
class Unstorable extends Error {}

function refuseUnstorable(_key: string, value: unknown): unknown {
  if (typeof value === 'string' && /[\0\p{Cs}]/u.test(value)) {
    throw new Unstorable('a string holds a NUL character (\\u0000) or a lone surrogate, which cannot be stored');
  }
  return value;
}

export async function readJsonBody(ctx: Context, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limit) throw new ProblemError(413, 'Payload too large', `the body is larger than ${limit} bytes`);
  if (!ctx.is('application/json')) {
    throw new ProblemError(415, 'Unsupported media type', 'send the body as application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new ProblemError(413, 'Payload too large', `the body is larger than ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    // A client that hung up before its whole body came (a worker stopped mid-exchange) is
    // not a fault of the server's: answered, to no one, as a bad request, not logged as one.
    if (error instanceof ProblemError || !ctx.req.destroyed) throw error;
    throw new ProblemError(400, 'Bad request', 'the client closed the connection before the whole body arrived');
  }
  const bytes = Buffer.concat(chunks);
  // Decoding would replace each byte that is not UTF-8 with U+FFFD: a task would then run a
  // command other than the one sent (a Latin-1 file name, say), and nobody would know.
  if (!isUtf8(bytes)) throw invalid([{ field: '(body)', message: 'not UTF-8: send the JSON as UTF-8' }]);
  const text = bytes.toString('utf8');
  if (!text.trim()) throw invalid([{ field: '(body)', message: 'a JSON body is required' }]);
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw invalid([{ field: '(body)', message: `arrays and objects may nest at most ${MAX_JSON_DEPTH} deep` }]);
  }
  try {
    return textEscapes(text) ? JSON.parse(text, refuseUnstorable) : JSON.parse(text);
  } catch (error) {
    throw invalid([{ field: '(body)', message: error instanceof Unstorable ? error.message : `not valid JSON: ${(error as Error).message}` }]);
  }
}
