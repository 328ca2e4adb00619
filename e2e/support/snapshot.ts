// Reads every projection table in primary-key order (tables of deltas folded), for comparing the state before and
// after a rebuild.
import pg from 'pg';
import { PROJECTIONS } from '../../server/projections/applyEvents.js';

/** Tables of deltas, whose rows depend on how changes were batched: compared by what they add up to. */
const FOLDED: Record<string, string> = {
  task_counts: `SELECT scope, scope_id, status, sum(n)::bigint AS n FROM task_counts
                GROUP BY scope, scope_id, status HAVING sum(n) <> 0 ORDER BY scope, scope_id, status`,
};

export async function snapshotProjections(databaseUrl: string): Promise<Record<string, unknown[]>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const out: Record<string, unknown[]> = {};
    for (const table of [...new Set(PROJECTIONS.flatMap((p) => p.tables))].sort()) {
      const { rows: keys } = await client.query(
        `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
        [table],
      );
      const order = keys.map((k) => pg.escapeIdentifier(k.attname)).join(', ');
      out[table] = (await client.query(FOLDED[table] ?? `SELECT * FROM ${pg.escapeIdentifier(table)} ORDER BY ${order}`)).rows;
    }
    return out;
  } finally {
    await client.end();
  }
}
