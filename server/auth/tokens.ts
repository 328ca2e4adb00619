// API tokens: created with a random secret shown once, stored as a SHA-256 (a token has
// 256 bits of entropy, so a slow password hash would add nothing), checked on every
// request by an indexed lookup. The creation is recorded as an event without the secret.
// A token may expire (expires_at); one past it is refused with "token expired".
import { createHash, randomBytes } from 'node:crypto';
import { sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Role } from '../../shared/schemas/auth.js';
import type { Db, Pool } from '../db/pool.js';
import { ProblemError, conflict } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';

export type { Role };

/** Who makes a request: a token, or a user through a login session. */
export interface Identity {
  kind: 'token' | 'session';
  tokenId?: number;
  userId?: number;
  sessionId?: number;
  /** The token's or the user's name: the actor of the events the request writes. */
  name: string;
  role: Role;
  /** The worker a worker token is bound to (its first registration); null before it, and for other roles. */
  workerId: number | null;
  /** When the token or session stops working; null: never. */
  expiresAt: string | null;
  /** Sessions only: what X-CSRF-Token must carry on a change. */
  csrfToken?: string;
}

export function newTokenValue(): string {
  return 'labq_' + randomBytes(32).toString('base64url');
}

export const tokenHash = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export interface TokenOptions {
  /** The value, when the caller chose it (LABQ_ADMIN_TOKEN); else a new random one. */
  value?: string;
  expiresAt?: string | null;
  /** The user who made it in a session: removing the user revokes it. */
  createdByUser?: number | null;
}

export async function createToken(pool: Pool, name: string, role: Role, meta: EventMeta, options: TokenOptions = {}): Promise<string> {
  const value = options.value ?? newTokenValue();
  const expiresAt = options.expiresAt ?? null;
  const taken = () => conflict(`a token named "${name}" exists already`);
  await pool.transaction(async (tx) => {
    if (await tx.exists(sql.unsafe`SELECT 1 FROM api_tokens WHERE name = ${name}`)) throw taken();
    const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('token_ids')`));
    await tx.query(sql.unsafe`
      INSERT INTO api_tokens (id, name, role, token_hash, expires_at, created_by, created_by_user)
      VALUES (${id}, ${name}, ${role}, ${sql.binary(tokenHash(value))}, ${expiresAt}, ${meta.actor}, ${options.createdByUser ?? null})`);
    const data = expiresAt ? { name, role, expires_at: expiresAt } : { name, role };
    await recordEvents(tx, [{ type: 'token.created', streamId: id, version: 1, data }], meta);
  }).catch((error: unknown) => {
    // Another request made the name between the look and the insert.
    throw error instanceof UniqueIntegrityConstraintViolationError && error.constraint === 'api_tokens_name_key' ? taken() : error;
  });
  return value;
}

/**
 * Revokes the live tokens a condition selects, in one statement, each recorded as
 * token.revoked (a token's stream is created then revoked: the revocation is version 2).
 */
export async function revokeTokensWhere(tx: Db, where: ReturnType<typeof sql.fragment>, meta: EventMeta): Promise<string[]> {
  const rows = await tx.any(sql.unsafe`
    UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND ${where} RETURNING id, name`);
  await recordEvents(tx, rows.map((row) => ({ type: 'token.revoked' as const, streamId: row.id, version: 2, data: { name: row.name } })), meta);
  return rows.map((row) => row.name);
}

/** Revokes a token by name; recorded as token.revoked. Unknown or already revoked: 404. */
export async function revokeToken(pool: Pool, name: string, meta: EventMeta): Promise<void> {
  await pool.transaction(async (tx) => {
    const revoked = await revokeTokensWhere(tx, sql.fragment`name = ${name}`, meta);
    if (revoked.length === 0) throw new ProblemError(404, 'Not found', `no live token named "${name}"`);
  });
}

/** The identity of a live token; 'expired' for one past its expiry (a clearer 401 than "unknown"). */
export async function verifyToken(db: Db, value: string): Promise<Identity | 'expired' | null> {
  const row = await db.maybeOne(sql.unsafe`
    SELECT t.id, t.name, t.role, t.expires_at, t.expires_at <= now() AS expired, w.id AS worker_id
    FROM api_tokens t LEFT JOIN workers w ON w.token_id = t.id
    WHERE t.token_hash = ${sql.binary(tokenHash(value))} AND t.revoked_at IS NULL`);
  if (!row) return null;
  if (row.expired) return 'expired';
  return { kind: 'token', tokenId: row.id, name: row.name, role: row.role, expiresAt: row.expires_at, workerId: row.worker_id };
}

export async function tokenCount(db: Db): Promise<number> {
  return Number(await db.oneFirst(sql.unsafe`SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`));
}

/** A name not yet taken, e.g. `admin`, `admin-2`: token names are unique. */
export async function freeTokenName(db: Db, base: string): Promise<string> {
  const taken = new Set((await db.anyFirst(sql.unsafe`SELECT name FROM api_tokens WHERE name LIKE ${base + '%'}`)) as string[]);
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}
