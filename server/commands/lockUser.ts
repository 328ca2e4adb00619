// The first step of every command on a user: lock its row and read the version of its
// stream, so that two changes to one user are serialized and their events numbered in
// order. A user that does not exist, or was removed, is a 404.
import { sql } from 'slonik';
import type { Role } from '../../shared/schemas/auth.js';
import type { Db } from '../db/pool.js';
import { notFound } from '../errors.js';

export interface LockedUser {
  id: number;
  name: string;
  role: Role;
  password_hash: string;
  /** The version of the user's stream now. */
  version: number;
}

export async function lockUser(tx: Db, name: string): Promise<LockedUser> {
  const row = await tx.maybeOne(sql.unsafe`
    SELECT id, name, role, password_hash FROM users WHERE name = ${name} AND removed_at IS NULL FOR UPDATE`);
  if (!row) throw notFound(`user "${name}"`);
  const version = Number(await tx.oneFirst(sql.unsafe`SELECT max(version) FROM events WHERE stream_type = 'user' AND stream_id = ${row.id}`));
  return { ...(row as Omit<LockedUser, 'version'>), version };
}
