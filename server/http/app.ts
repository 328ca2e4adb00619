// The Koa application: request ids, problem+json errors, who is calling (identity.ts) on /api/v1,
// the routes of the contract (each checking its roles), and the open /healthz.
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import { API_PREFIX } from '../../shared/api.js';
import { VERSION } from '../../shared/version.js';
import { ProblemError, problemBody } from '../errors.js';
import type { ServerContext } from './context.js';
import { bind } from './bind.js';
import { openApiDocument } from './openapi.js';
import { limitUrl } from './requestLimits.js';
import { eventRoutes } from './routes/events.js';
import { policyRoutes } from './routes/policy.js';
import { scheduleRoutes } from './routes/schedules.js';
import { statsRoutes } from './routes/stats.js';
import { secretRoutes } from './routes/secrets.js';
import { steeringRoutes } from './routes/steering.js';
import { sweepRoutes } from './routes/sweeps.js';
import { taskRoutes } from './routes/tasks.js';
import { workflowRoutes } from './routes/workflows.js';
import { workerRoutes } from './routes/workers.js';
import { executionRoutes } from './routes/executions.js';
import { accountRoutes } from './routes/accounts.js';
import { identify } from './identity.js';
import { staticUi } from './staticUi.js';

function sendProblem(ctx: Context, problem: ProblemError): void {
  ctx.status = problem.status;
  ctx.type = 'application/problem+json';
  ctx.body = problemBody(problem, ctx.state.requestId);
}

/** Serialization failures and deadlocks (SQLSTATE class 40) that outlived the retries. */
function isContention(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('40');
}

function isDatabaseDown(error: unknown): boolean {
  const name = (error as Error)?.constructor?.name ?? '';
  return /ConnectionError|BackendTerminated/.test(name) || (error as NodeJS.ErrnoException)?.code === 'ECONNREFUSED';
}

/** Every route of the contract, each bound with its role check (bind.ts). */
export function apiRouter(context: ServerContext): Router {
  const router = new Router({ prefix: API_PREFIX });
  steeringRoutes(router, context);
  taskRoutes(router, context);
  sweepRoutes(router, context);
  scheduleRoutes(router, context);
  workflowRoutes(router, context);
  eventRoutes(router, context);
  workerRoutes(router, context);
  executionRoutes(router, context);
  accountRoutes(router, context);
  secretRoutes(router, context);
  policyRoutes(router, context);
  statsRoutes(router, context);
  const document = openApiDocument(VERSION);
  bind(router, 'openapi', async () => document);
  return router;
}

export function createApp(context: ServerContext): Koa {
  // Behind a trusted reverse proxy, X-Forwarded-For gives the client's address (the events'
  // source, the login limit) and X-Forwarded-Proto whether it came over HTTPS (Secure cookies).
  const app = new Koa({ proxy: context.trustProxy ?? false });
  app.silent = true;

  app.use(async (ctx: Context, next: Next) => {
    const given = ctx.get('x-request-id');
    ctx.state.requestId = /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    ctx.set('x-request-id', ctx.state.requestId);
    try {
      await next();
      if (ctx.body === undefined && ctx.respond !== false) {
        if (ctx.status === 404) sendProblem(ctx, new ProblemError(404, 'Not found', `no route for ${ctx.method} ${ctx.path}`));
        // A method the router does not know (TRACE, PROPFIND…) is a client's mistake like any
        // other wrong method, not a server error: 405 with what the path takes.
        if (ctx.status === 405 || ctx.status === 501) sendProblem(ctx, new ProblemError(405, 'Method not allowed', `${ctx.path} takes ${ctx.response.get('allow')}`));
      }
    } catch (error) {
      if (ctx.respond === false) {
        context.log(`error on an open stream ${ctx.method} ${ctx.path}: ${(error as Error).message}`);
        return;
      }
      if (error instanceof ProblemError) return sendProblem(ctx, error);
      if (isContention(error)) {
        ctx.set('retry-after', '1');
        return sendProblem(ctx, new ProblemError(503, 'Service unavailable', 'too many concurrent changes to the same data; retry shortly'));
      }
      if (isDatabaseDown(error)) {
        return sendProblem(ctx, new ProblemError(503, 'Service unavailable', 'the database is unreachable; retry shortly'));
      }
      context.log(`internal error ${ctx.state.requestId} on ${ctx.method} ${ctx.path}: ${(error as Error).stack ?? error}`);
      sendProblem(ctx, new ProblemError(500, 'Internal error', `an unexpected error occurred; request id ${ctx.state.requestId}`));
    }
  });

  app.use(limitUrl);

  app.use(async (ctx: Context, next: Next) => {
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok', version: VERSION };
      return;
    }
    await next();
  });
  app.use(staticUi());
  app.use(identify(context));

  const router = apiRouter(context);
  app.use(router.routes());
  // Not thrown: koa-router sets the Allow header only when it answers itself; the first
  // middleware turns the empty 405/501 into a 405 problem and keeps the header.
  app.use(router.allowedMethods());
  return app;
}
