// Routes of /auth (login, logout, who am I, my password), /users and /tokens.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { sql } from 'slonik';
import { durationSeconds } from '../../../shared/schemas/account.js';
import { claimLoginAttempt, clearLoginFailures } from '../../auth/loginLimit.js';
import { verifyPassword } from '../../auth/passwords.js';
import { clearedSessionCookie, sessionCookie } from '../../auth/sessions.js';
import { createToken, revokeToken, type Identity } from '../../auth/tokens.js';
import { logout } from '../../commands/closeSessions.js';
import { createUser } from '../../commands/createUser.js';
import { LoginLimited, openSession } from '../../commands/openSession.js';
import { removeUser } from '../../commands/removeUser.js';
import { updateUser } from '../../commands/updateUser.js';
import { conflict, invalid, notFound } from '../../errors.js';
import { getToken, getUser, listTokens, listUsers } from '../../queries/accounts.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';

/** Answers that carry a CSRF token or a token's value are never stored by a cache. */
const noStore = (ctx: Context) => ctx.set('cache-control', 'no-store');

/** What the login limit counts per address (the socket's, or X-Forwarded-For's behind a trusted proxy). */
const clientAddress = (ctx: Context) => ctx.ip || 'unknown';

async function limited<T>(ctx: Context, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof LoginLimited) ctx.set('retry-after', String(error.retryAfter));
    throw error;
  }
}

export function accountRoutes(router: Router, { pool, tokens }: ServerContext): void {
  bind(router, 'login', async ({ body, ctx, meta }) => {
    const session = await limited(ctx, () => openSession(pool, body.name, body.password, clientAddress(ctx), meta));
    ctx.append('set-cookie', sessionCookie(session.value, ctx.secure));
    noStore(ctx);
    return { name: session.name, role: session.role, csrf_token: session.csrfToken, expires_at: session.expiresAt };
  });

  bind(router, 'logout', async ({ ctx, meta }) => {
    const identity = ctx.state.identity as Identity;
    if (identity.kind === 'session') await logout(pool, identity.sessionId!, meta);
    ctx.append('set-cookie', clearedSessionCookie(ctx.secure));
    return { ok: true as const };
  });

  bind(router, 'me', async ({ ctx }) => {
    const identity = ctx.state.identity as Identity;
    noStore(ctx);
    return {
      kind: identity.kind, name: identity.name, role: identity.role, expires_at: identity.expiresAt,
      ...(identity.csrfToken ? { csrf_token: identity.csrfToken } : {}),
    };
  });

  bind(router, 'changeOwnPassword', async ({ body, ctx, meta }) => {
    const identity = ctx.state.identity as Identity;
    if (identity.kind !== 'session') throw conflict('a token has no password: log in as the user, or ask an admin (PATCH /users/{name})');
    // Guesses of the current password count against the same limit as logins.
    await limited(ctx, async () => {
      const wait = await claimLoginAttempt(pool, identity.name, clientAddress(ctx));
      if (wait !== null) throw new LoginLimited(wait);
    });
    const hash = await pool.oneFirst(sql.unsafe`SELECT password_hash FROM users WHERE id = ${identity.userId!}`);
    if (!(await verifyPassword(body.current_password, hash as string))) {
      throw invalid([{ field: 'current_password', message: 'is not the current password' }]);
    }
    await clearLoginFailures(pool, identity.name, clientAddress(ctx));
    await updateUser(pool, identity.name, { password: body.password, keepSession: identity.sessionId }, meta);
    return { ok: true as const };
  });

  bind(router, 'listUsers', async () => ({ items: await listUsers(pool) }));
  bind(router, 'createUser', async ({ body, meta }) => {
    await createUser(pool, body, meta);
    return (await getUser(pool, body.name))!;
  });
  bind(router, 'updateUser', async ({ params, body, meta }) => {
    await updateUser(pool, params.name, body, meta);
    return (await getUser(pool, params.name))!;
  });
  bind(router, 'removeUser', async ({ params, meta }) => {
    await removeUser(pool, params.name, meta);
    // Other servers drop their cache when the notification arrives; this one at once.
    tokens.drop();
    return { ok: true as const };
  });

  bind(router, 'listTokens', async () => ({ items: await listTokens(pool) }));
  bind(router, 'createToken', async ({ body, ctx, meta }) => {
    const identity = ctx.state.identity as Identity;
    const expiresAt = body.expires_in
      ? new Date(Date.now() + durationSeconds(body.expires_in) * 1000).toISOString()
      : body.expires_at ? new Date(body.expires_at).toISOString() : null;
    const token = await createToken(pool, body.name, body.role, meta, {
      expiresAt, createdByUser: identity.kind === 'session' ? identity.userId : null,
    });
    noStore(ctx);
    const created = await getToken(pool, body.name);
    if (!created) throw notFound(`token "${body.name}"`);
    return { ...created, token };
  });
  bind(router, 'revokeToken', async ({ params, meta }) => {
    await revokeToken(pool, params.name, meta);
    tokens.drop();
    return { ok: true as const };
  });
}
