// Applies the numbered files of sql/ in order, each in its own transaction, under an
// advisory lock so that several servers starting at once against one database migrate
// it exactly once. Uses a bare pg client because a migration file holds many
// statements, which only the simple query protocol accepts.
import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';

export const SQL_DIR = new URL('../../../sql/', import.meta.url);
const LOCK_KEY = 7_162_534_001;

export async function migrate(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    const files = (await readdir(SQL_DIR)).filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort();
    const [bootstrap, ...rest] = files;
    if (bootstrap) await client.query(await readFile(new URL(bootstrap, SQL_DIR), 'utf8'));
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
    const applied: string[] = [];
    for (const file of rest) {
      if (done.has(file)) continue;
      const text = await readFile(new URL(file, SQL_DIR), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(text);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(error as Error).message}`);
      }
      applied.push(file);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}
