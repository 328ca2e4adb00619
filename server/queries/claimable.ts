// Whether a task of a tag is still there for a claim: pending, not paused, not backing off,
// and not locked by a claim under way (SKIP LOCKED). Asked when a parked poll woken for
// tasks of the tag claimed fewer than it was woken for (server/workers/wakeups.ts): if one
// is left, another poll may be able to take it; if none is, another poll (of this process
// or of another) took it, and waking the rest of the tag would only make rounds find nothing.
import { sql } from 'slonik';
import { z } from 'zod';
import type { Db } from '../db/pool.js';
import { CLAIMABLE } from '../requirements.js';

export async function claimableTask(db: Db, tag: string): Promise<boolean> {
  // Locked for as long as this one statement lasts: a claim that runs meanwhile skips it, as it skips any claim's.
  const found = await db.maybeOne(sql.type(z.object({ id: z.number() }))`
    SELECT id FROM tasks
    WHERE ${CLAIMABLE} AND tag = ${tag}
    ORDER BY priority DESC, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED`);
  return found !== null;
}
