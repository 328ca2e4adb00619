// Command: log in. The limit on failed logins is checked (and the attempt counted) first;
// then the password, against a dummy hash when the name is unknown, so that an unknown
// name and a wrong password get the same answer after the same work. A success opens a
// session (its value returned once, for the cookie; only its SHA-256 is stored) and is
// recorded as session.opened with the user as the actor.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Role } from '../../shared/schemas/auth.js';
import { claimLoginAttempt, clearLoginFailures } from '../auth/loginLimit.js';
import { dummyHash, verifyPassword } from '../auth/passwords.js';
import { newCsrfToken, newSessionValue, SESSION_SECONDS } from '../auth/sessions.js';
import { tokenHash } from '../auth/tokens.js';
import type { Pool } from '../db/pool.js';
import { ProblemError } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';

export interface OpenedSession {
  value: string;
  csrfToken: string;
  name: string;
  role: Role;
  expiresAt: string;
}

export class LoginLimited extends ProblemError {
  constructor(readonly retryAfter: number) {
    super(429, 'Too many requests', `too many failed logins for this name or from this address; retry in ${retryAfter} s`);
  }
}

export async function openSession(pool: Pool, name: string, password: string, address: string, meta: EventMeta): Promise<OpenedSession> {
  const wait = await claimLoginAttempt(pool, name, address);
  if (wait !== null) throw new LoginLimited(wait);
  const user = await pool.maybeOne(sql.unsafe`SELECT id, name, role, password_hash FROM users WHERE name = ${name} AND removed_at IS NULL`);
  const matches = await verifyPassword(password, user?.password_hash ?? (await dummyHash()));
  if (!user || !matches) throw new ProblemError(401, 'Unauthorized', 'the name or the password is wrong');
  const value = newSessionValue();
  const csrfToken = newCsrfToken();
  return pool.transaction(async (tx) => {
    await clearLoginFailures(tx, name, address);
    await tx.query(sql.unsafe`DELETE FROM sessions WHERE expires_at <= now()`);
    const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('session_ids')`));
    const expiresAt = await tx.oneFirst(sql.unsafe`
      INSERT INTO sessions (id, user_id, session_hash, csrf_token, expires_at)
      VALUES (${id}, ${user.id}, ${sql.binary(tokenHash(value))}, ${csrfToken}, now() + make_interval(secs => ${SESSION_SECONDS}))
      RETURNING expires_at`);
    await recordEvents(tx, [{ type: 'session.opened', streamId: id, version: 1, data: { name: user.name, user_id: user.id } }], { ...meta, actor: user.name, actor_kind: 'session' });
    return { value, csrfToken, name: user.name, role: user.role, expiresAt: expiresAt as string };
  });
}
