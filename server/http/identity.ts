// Who makes a request under /api/v1: a Bearer token (through the token cache), else the
// labq_session cookie of a login. The result is ctx.state.identity, which the role checks
// and the events' actor read. A request authenticated by the cookie that may change
// something (any method but GET and HEAD) must carry the session's CSRF token in
// X-CSRF-Token: a cookie is sent by the browser whatever page asks, a header only by our
// own pages. Bearer requests are exempt: no browser adds that header on its own. When an
// Authorization header is sent, it alone decides, so that a script's wrong token is
// never rescued by a browser's cookie. The login route is the one route open to all.
import type { Context, Next } from 'koa';
import { API_PREFIX, routes, type RouteSpec } from '../../shared/api.js';
import { csrfMatches, SESSION_COOKIE, verifySession } from '../auth/sessions.js';
import type { Identity } from '../auth/tokens.js';
import { ProblemError } from '../errors.js';
import type { ServerContext } from './context.js';

const PUBLIC = new Set(
  (Object.values(routes) as RouteSpec[]).filter((r) => r.public).map((r) => `${r.method.toUpperCase()} ${API_PREFIX}${r.path}`),
);
const SAFE_METHODS = new Set(['GET', 'HEAD']);

function unauthorized(detail: string): ProblemError {
  return new ProblemError(401, 'Unauthorized', detail);
}

async function resolve(ctx: Context, context: ServerContext): Promise<Identity> {
  const authorization = ctx.get('authorization');
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match) throw unauthorized('send Authorization: Bearer <token>');
    const identity = await context.tokens.verify(match[1]!);
    if (identity === 'expired') throw unauthorized('token expired');
    if (!identity) throw unauthorized('the token is unknown or revoked');
    return identity;
  }
  const cookie = ctx.cookies.get(SESSION_COOKIE);
  if (!cookie) throw unauthorized('send Authorization: Bearer <token>, or log in (POST /api/v1/auth/login)');
  const identity = await verifySession(context.pool, cookie);
  if (!identity) throw unauthorized('the session has ended (logged out, expired, its password changed or its user removed); log in again');
  if (!SAFE_METHODS.has(ctx.method) && !csrfMatches(ctx.get('x-csrf-token'), identity.csrfToken!)) {
    throw new ProblemError(403, 'Forbidden', 'a request through a session must send the X-CSRF-Token header that the login answered');
  }
  return identity;
}

export function identify(context: ServerContext) {
  return async (ctx: Context, next: Next) => {
    if ((ctx.path === API_PREFIX || ctx.path.startsWith(API_PREFIX + '/')) && !PUBLIC.has(`${ctx.method} ${ctx.path}`)) {
      try {
        ctx.state.identity = await resolve(ctx, context);
      } catch (error) {
        if (error instanceof ProblemError && error.status === 401) ctx.set('www-authenticate', 'Bearer realm="labq"');
        throw error;
      }
    }
    await next();
  };
}
