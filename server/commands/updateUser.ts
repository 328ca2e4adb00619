// Command: change a user's password or role. A new password ends the user's sessions
// (all of them when an admin sets it; all but the caller's own when users change their
// own), since whoever knew the old one may hold one. A new role takes effect at the next
// request of every session, which reads the role with the session. Events:
// user.password_changed (never the password or its hash) and user.role_changed.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Role } from '../../shared/schemas/auth.js';
import { hashPassword } from '../auth/passwords.js';
import type { Pool } from '../db/pool.js';
import type { NewEvent } from '../events/types.js';
import { recordEvents } from '../events/recordEvents.js';
import { closeSessionsWhere } from './closeSessions.js';
import { lockUser } from './lockUser.js';

export interface UserChange {
  password?: string;
  role?: Role;
  /** The caller's own session, kept when users change their own password. */
  keepSession?: number;
}

export async function updateUser(pool: Pool, name: string, change: UserChange, meta: EventMeta): Promise<void> {
  const hash = change.password === undefined ? null : await hashPassword(change.password);
  await pool.transaction(async (tx) => {
    const user = await lockUser(tx, name);
    const events: NewEvent[] = [];
    if (hash !== null) {
      await tx.query(sql.unsafe`UPDATE users SET password_hash = ${hash} WHERE id = ${user.id}`);
      events.push({ type: 'user.password_changed', streamId: user.id, version: user.version + events.length + 1, data: { name } });
    }
    if (change.role !== undefined && change.role !== user.role) {
      await tx.query(sql.unsafe`UPDATE users SET role = ${change.role} WHERE id = ${user.id}`);
      events.push({ type: 'user.role_changed', streamId: user.id, version: user.version + events.length + 1, data: { name, old: user.role, new: change.role } });
    }
    await recordEvents(tx, events, meta);
    if (hash !== null) {
      const keep = change.keepSession ?? 0;
      await closeSessionsWhere(tx, sql.fragment`s.user_id = ${user.id} AND s.id <> ${keep}`, 'password_changed', meta);
    }
  });
}
