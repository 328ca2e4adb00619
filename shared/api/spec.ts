// What every route group of the contract (../api.ts) shares: the prefix, the shape of a
// route entry, the path parameter of an id and the role lists.
import { z } from 'zod/v4';
import type { Role } from '../schemas/auth.js';
import { IdParam } from '../schemas/common.js';

export const API_PREFIX = '/api/v1';

export interface RouteSpec {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Relative to API_PREFIX, with `:name` parameters. */
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The JSON response; 'sse' for a text/event-stream; 'text' for text/plain (or SSE when asked to follow). */
  response: z.ZodType | 'sse' | 'text';
  status?: number;
  /**
   * The roles that may call it besides admin, which may call everything: `[]` is admin
   * only. Checked before anything else of the request (server/http/bind.ts).
   */
  roles: readonly Role[];
  /** Needs no identity at all (login): the only such route under API_PREFIX. */
  public?: true;
}

export const IdParams = z.object({ id: IdParam });

/** Reads. */
export const READ = ['operator', 'viewer'] as const;
/** Submitting and steering. */
export const STEER = ['operator'] as const;
/** What the worker daemon calls; a worker token only as the worker it is bound to (server/http/access.ts). */
export const WORKER = ['worker'] as const;
