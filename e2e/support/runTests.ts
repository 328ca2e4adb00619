// The test runner behind `npm test`: starts one embedded PostgreSQL cluster for the whole
// run, migrates a template database once, then runs every compiled *.test.js file with
// node's test runner. Each test file clones the template into a database of its own
// (e2e/support/db.ts), so files run in parallel without seeing each other.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../server/db/embedded.js';
import { migrate } from '../../server/db/migrate.js';

export const TEMPLATE_DATABASE = 'labq_template';

async function main(): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), 'labq-test-'));
  const cluster = await startEmbeddedPostgres({ dataDir, database: TEMPLATE_DATABASE });
  try {
    await migrate(cluster.url);
    const admin = new pg.Client({ connectionString: cluster.adminUrl });
    await admin.connect();
    await admin.query(`ALTER DATABASE ${TEMPLATE_DATABASE} WITH IS_TEMPLATE true`);
    await admin.end();
    const paths = process.argv.slice(2);
    const child = spawn(
      process.execPath,
      ['--test', '--test-concurrency=2', '--test-timeout=600000', ...(paths.length ? paths : ['dist/'])],
      { stdio: 'inherit', env: { ...process.env, LABQ_TEST_ADMIN_URL: cluster.adminUrl } },
    );
    return await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    await cluster.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
