// API tokens: created with a random secret shown once, stored as a SHA-256 (a token has
// 256 bits of entropy, so a slow password hash would add nothing), checked on every
// request by an indexed lookup. The creation is recorded as an event without the secret.
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Role } from '../../shared/schemas/auth.js';
import type { Db, Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';

export type { Role };

export interface Identity {
  tokenId: number;
  name: string;
  role: Role;
  /** The worker a worker token is bound to (its first registration); null before it, and for other roles. */
  workerId: number | null;
}

export function newTokenValue(): string {
  return 'labq_' + randomBytes(32).toString('base64url');
}

export const tokenHash = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export async function createToken(pool: Pool, name: string, role: Role, meta: EventMeta, value = newTokenValue()): Promise<string> {
  await pool.transaction(async (tx) => {
    const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('token_ids')`));
    await tx.query(sql.unsafe`
      INSERT INTO api_tokens (id, name, role, token_hash) VALUES (${id}, ${name}, ${role}, ${sql.binary(tokenHash(value))})`);
    await recordEvents(tx, [{ type: 'token.created', streamId: id, version: 1, data: { name, role } }], meta);
  });
  return value;
}

/** Revokes a token by name; recorded as token.revoked. Unknown or already revoked: an error. */
export async function revokeToken(pool: Pool, name: string, meta: EventMeta): Promise<void> {
  await pool.transaction(async (tx) => {
    const row = await tx.maybeOne(sql.unsafe`SELECT id FROM api_tokens WHERE name = ${name} AND revoked_at IS NULL FOR UPDATE`);
    if (!row) throw new Error(`no live token named "${name}"`);
    await tx.query(sql.unsafe`UPDATE api_tokens SET revoked_at = now() WHERE id = ${row.id}`);
    const version = Number(await tx.oneFirst(sql.unsafe`SELECT max(version) FROM events WHERE stream_type = 'token' AND stream_id = ${row.id}`));
    await recordEvents(tx, [{ type: 'token.revoked', streamId: row.id, version: version + 1, data: { name } }], meta);
  });
}

export async function verifyToken(db: Db, value: string): Promise<Identity | null> {
  const row = await db.maybeOne(sql.unsafe`
    SELECT t.id, t.name, t.role, w.id AS worker_id
    FROM api_tokens t LEFT JOIN workers w ON w.token_id = t.id
    WHERE t.token_hash = ${sql.binary(tokenHash(value))} AND t.revoked_at IS NULL`);
  return row ? { tokenId: row.id, name: row.name, role: row.role, workerId: row.worker_id } : null;
}

export async function tokenCount(db: Db): Promise<number> {
  return Number(await db.oneFirst(sql.unsafe`SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL`));
}

/** A name not yet taken, e.g. `admin`, `admin-2`: token names are unique. */
export async function freeTokenName(db: Db, base: string): Promise<string> {
  const taken = new Set((await db.anyFirst(sql.unsafe`SELECT name FROM api_tokens WHERE name LIKE ${base + '%'}`)) as string[]);
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}
