// The read side of accounts: users and tokens as the API shows them, never a password
// hash, a token hash or a session value (the SELECT lists name what leaves).
import { sql } from 'slonik';
import type { ApiToken, User } from '../../shared/schemas/account.js';
import type { Db } from '../db/pool.js';

const userColumns = sql.fragment`
  u.name, u.role, u.created_at,
  (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > now())::int AS sessions`;

export async function listUsers(db: Db): Promise<User[]> {
  return [...(await db.any(sql.unsafe`SELECT ${userColumns} FROM users u WHERE u.removed_at IS NULL ORDER BY u.name`))] as User[];
}

export async function getUser(db: Db, name: string): Promise<User | null> {
  return (await db.maybeOne(sql.unsafe`SELECT ${userColumns} FROM users u WHERE u.name = ${name} AND u.removed_at IS NULL`)) as User | null;
}

const tokenColumns = sql.fragment`
  name, role, created_at, created_by, expires_at, revoked_at,
  CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN expires_at <= now() THEN 'expired' ELSE 'live' END AS status`;

export async function listTokens(db: Db): Promise<ApiToken[]> {
  return [...(await db.any(sql.unsafe`SELECT ${tokenColumns} FROM api_tokens ORDER BY id`))] as ApiToken[];
}

export async function getToken(db: Db, name: string): Promise<ApiToken | null> {
  return (await db.maybeOne(sql.unsafe`SELECT ${tokenColumns} FROM api_tokens WHERE name = ${name}`)) as ApiToken | null;
}
