// Command: remove a user. Its sessions end at once (the rows go, every server refuses them
// at the next request), and the tokens it made in a session are revoked with it: a person
// who leaves takes their credentials along. Tokens made with another token or with
// `labq admin` stay. The row stays with removed_at (the log names the user), and the
// name is free for a new user. Events: session.closed, token.revoked, user.removed.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import { revokeTokensWhere } from '../auth/tokens.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { closeSessionsWhere } from './closeSessions.js';
import { lockUser } from './lockUser.js';

export async function removeUser(pool: Pool, name: string, meta: EventMeta): Promise<void> {
  await pool.transaction(async (tx) => {
    const user = await lockUser(tx, name);
    await closeSessionsWhere(tx, sql.fragment`s.user_id = ${user.id}`, 'user_removed', meta);
    await revokeTokensWhere(tx, sql.fragment`created_by_user = ${user.id}`, meta);
    await tx.query(sql.unsafe`UPDATE users SET removed_at = now() WHERE id = ${user.id}`);
    await recordEvents(tx, [{ type: 'user.removed', streamId: user.id, version: user.version + 1, data: { name } }], meta);
  });
}
