// Command: end sessions: a logout (one session), or every session of a user whose
// password changed or who was removed. The rows go at once, so the next request through
// any of them is refused by every server; each is recorded as session.closed. Sessions
// that merely expire write nothing: their end is their expires_at.
import { sql } from 'slonik';
import type { EventData, EventMeta } from '../../shared/events.js';
import type { Db, Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';

type Reason = EventData<'session.closed'>['reason'];

/** Ends the sessions a condition selects, in one statement; returns how many ended. */
export async function closeSessionsWhere(tx: Db, where: ReturnType<typeof sql.fragment>, reason: Reason, meta: EventMeta): Promise<number> {
  const rows = await tx.any(sql.unsafe`
    DELETE FROM sessions s USING users u WHERE u.id = s.user_id AND ${where} RETURNING s.id, u.name`);
  await recordEvents(tx, rows.map((row) => ({ type: 'session.closed' as const, streamId: row.id, version: 2, data: { name: row.name, reason } })), meta);
  return rows.length;
}

export async function logout(pool: Pool, sessionId: number, meta: EventMeta): Promise<void> {
  await pool.transaction((tx) => closeSessionsWhere(tx, sql.fragment`s.id = ${sessionId}`, 'logout', meta));
}
