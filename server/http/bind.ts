// Binds a handler to a route of the contract (shared/api.ts): checks the caller's role
// against the route's roles (403 before anything else is read), parses and validates the
// path parameters, the query and the body with the route's schemas (400 with the field
// names on failure, before the handler runs), and answers with the route's status. Every
// route under /api/v1 is bound here, so none escapes the role check (server/http/roles.test.ts
// compares the router with the contract).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { z } from 'zod/v4';
import { routes, type RouteName, type RouteResponse, type Routes, type RouteSpec } from '../../shared/api.js';
import type { EventMeta } from '../../shared/events.js';
import { invalid } from '../errors.js';
import { authorize } from './access.js';
import { readJsonBody } from './body.js';
import { fieldErrors, issueMessage } from './zodErrors.js';

type Field<R, K extends string> = R extends { [P in K]: infer S } ? (S extends z.ZodType ? z.output<S> : never) : undefined;

export interface HandlerInput<N extends RouteName> {
  params: Field<Routes[N], 'params'>;
  query: Field<Routes[N], 'query'>;
  body: Field<Routes[N], 'body'>;
  ctx: Context;
  meta: EventMeta;
}

export type Handler<N extends RouteName> = (input: HandlerInput<N>) => Promise<RouteResponse<N> | void>;

export interface BindOptions {
  /** Parses the raw JSON body instead of the route's schema (for bodies with several shapes). */
  parseBody?: (raw: unknown) => unknown;
}

function parse<T extends z.ZodType>(schema: T, value: unknown, prefix = ''): z.output<T> {
  const result = schema.safeParse(value, { error: issueMessage });
  if (!result.success) throw invalid(fieldErrors(result.error, prefix));
  return result.data;
}

/** A query whose parameters are each given once: a list is one value, comma-separated, so one given twice is a mistake, said as such. */
function onceEach(query: Context['query']): Context['query'] {
  const repeated = Object.keys(query).filter((key) => Array.isArray(query[key]));
  if (repeated.length) throw invalid(repeated.map((field) => ({ field, message: 'given more than once: give it once (a list is one value, comma-separated)' })));
  return query;
}

export function metaOf(ctx: Context): EventMeta {
  const identity = ctx.state.identity;
  // A user and a token may share a name: actor_kind tells which one acted.
  return {
    actor: identity?.name ?? null, request_id: ctx.state.requestId ?? null, source: ctx.ip || null,
    ...(identity ? { actor_kind: identity.kind } : {}),
  };
}

export function bind<N extends RouteName>(router: Router, name: N, handler: Handler<N>, options: BindOptions = {}): void {
  const route = routes[name] as Routes[N] & { params?: z.ZodType; query?: z.ZodObject; body?: z.ZodType; status?: number };
  // A parameter the route does not know is refused, as a body's unknown field is: taken
  // silently, `GET /events?actor=ada` would answer every actor's events as if filtered.
  const querySchema = route.query?.strict();
  router[route.method](route.path, async (ctx: Context) => {
    authorize(routes[name] as RouteSpec, ctx.state.identity, `${ctx.method} ${ctx.path}`);
    const params = route.params ? parse(route.params, (ctx as any).params) : undefined;
    const query = querySchema ? parse(querySchema, onceEach(ctx.query)) : undefined;
    let body: unknown;
    if (route.body) {
      const raw = await readJsonBody(ctx);
      body = options.parseBody ? options.parseBody(raw) : parse(route.body, raw);
    }
    // Streaming and text routes write their own answer.
    const json = typeof route.response !== 'string';
    if (json) ctx.status = route.status ?? 200;
    const result = await handler({ params, query, body, ctx, meta: metaOf(ctx) } as HandlerInput<N>);
    if (json) ctx.body = result;
  });
}

export { parse as parseWith };
