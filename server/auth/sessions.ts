// Login sessions: the cookie holds 256 random bits, the database only their SHA-256 (as
// for tokens, a slow hash would add nothing to a value that cannot be guessed). A session
// lasts SESSION_SECONDS from the login, not sliding: checking one costs a read and never a
// write. Each request through a session reads its row, joined with its user, so that a
// logout, a removed user or a changed role takes effect at once on every server.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sql } from 'slonik';
import type { Db } from '../db/pool.js';
import { tokenHash, type Identity } from './tokens.js';

export const SESSION_COOKIE = 'labq_session';
export const SESSION_SECONDS = 12 * 3600;

export const newSessionValue = () => randomBytes(32).toString('base64url');
export const newCsrfToken = () => randomBytes(32).toString('base64url');

export async function verifySession(db: Db, value: string): Promise<Identity | null> {
  const row = await db.maybeOne(sql.unsafe`
    SELECT s.id, s.user_id, s.csrf_token, s.expires_at, u.name, u.role
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.session_hash = ${sql.binary(tokenHash(value))} AND s.expires_at > now() AND u.removed_at IS NULL`);
  if (!row) return null;
  return {
    kind: 'session', sessionId: row.id, userId: row.user_id, name: row.name, role: row.role, workerId: null,
    expiresAt: row.expires_at, csrfToken: row.csrf_token,
  };
}

/** The Set-Cookie value: Secure only when the client reached us over HTTPS (directly, or through a trusted proxy). */
export function sessionCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${SESSION_SECONDS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** Constant-time comparison of the X-CSRF-Token sent with the session's. */
export function csrfMatches(sent: string, expected: string): boolean {
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
