// `labq admin rebuild`: truncates every projection and replays the whole log through the
// same apply functions the commands use. It runs in one REPEATABLE READ transaction that
// first locks the projection tables: commands wait for it, and the log it replays is
// exactly the one committed before those locks, so no event is applied twice or missed.
import { sql } from 'slonik';
import type { Pool } from '../db/pool.js';
import { readEventsByPosition } from '../events/readEvents.js';
import { applyEvents, PROJECTIONS } from '../projections/applyEvents.js';

const BATCH = 5000;

export async function rebuildProjections(pool: Pool, progress: (events: number) => void = () => undefined): Promise<number> {
  const tables = [...new Set(PROJECTIONS.flatMap((p) => p.tables))];
  return pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`);
    const identifiers = sql.join(tables.map((t) => sql.identifier([t])), sql.fragment`, `);
    await tx.query(sql.unsafe`LOCK TABLE ${identifiers} IN ACCESS EXCLUSIVE MODE`);
    await tx.query(sql.unsafe`TRUNCATE ${identifiers}`);
    let after = 0;
    let total = 0;
    for (;;) {
      const events = await readEventsByPosition(tx, after, BATCH);
      if (events.length === 0) break;
      await applyEvents(tx, events);
      after = events[events.length - 1]!.position;
      total += events.length;
      progress(total);
    }
    return total;
  });
}
