// Command: create a user with a role and a password. The password is hashed before the
// transaction (scrypt takes tens of milliseconds, no lock is held meanwhile); the event
// user.created names the user and its role, never the password or its hash.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Role } from '../../shared/schemas/auth.js';
import { hashPassword } from '../auth/passwords.js';
import type { Pool } from '../db/pool.js';
import { conflict } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';

export interface NewUser {
  name: string;
  role: Role;
  password: string;
}

export async function createUser(pool: Pool, user: NewUser, meta: EventMeta): Promise<number> {
  const hash = await hashPassword(user.password);
  return pool.transaction(async (tx) => {
    const id = Number(await tx.oneFirst(sql.unsafe`SELECT nextval('user_ids')`));
    const inserted = await tx.maybeOne(sql.unsafe`
      INSERT INTO users (id, name, role, password_hash) VALUES (${id}, ${user.name}, ${user.role}, ${hash})
      ON CONFLICT (name) WHERE removed_at IS NULL DO NOTHING RETURNING id`);
    if (!inserted) throw conflict(`a user named "${user.name}" exists already`);
    await recordEvents(tx, [{ type: 'user.created', streamId: id, version: 1, data: { name: user.name, role: user.role } }], meta);
    return id;
  });
}
