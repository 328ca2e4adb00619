// A fresh database per test file, cloned from the migrated template of this run (see
// runTests.ts). Outside `npm test` (a single file run by hand) it fails with a clear
// message instead of touching any other database.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export async function freshDatabase(): Promise<string> {
  const adminUrl = process.env.LABQ_TEST_ADMIN_URL;
  if (!adminUrl) throw new Error('LABQ_TEST_ADMIN_URL is not set: run tests through `npm test` (or node dist/e2e/support/runTests.js FILE)');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE labq_template`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Connections open to a test database, whoever opened them. */
export async function connectionsTo(databaseUrl: string): Promise<number> {
  const admin = new pg.Client({ connectionString: process.env.LABQ_TEST_ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [new URL(databaseUrl).pathname.slice(1)]);
    return rows[0].n;
  } finally {
    await admin.end();
  }
}
