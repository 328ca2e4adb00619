// The test runner behind `npm test`: starts one embedded PostgreSQL cluster for the whole
// run, migrates a template database once, then runs every compiled *.test.js file with
// node's test runner. Each test file clones the template into a database of its own
// (e2e/support/db.ts), so files run in parallel without seeing each other.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../server/db/embedded.js';
import { migrate } from '../../server/db/migrate.js';

export const TEMPLATE_DATABASE = 'labq_template';

/** Test files that hold a transaction open for many seconds. */
const LONG_TRANSACTIONS = ['server/http/sweeps.test.js', 'server/http/steering.test.js'];

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
    const run = (files: string[], concurrency: number) => {
      if (files.length === 0) return Promise.resolve(0);
      const child = spawn(
        process.execPath,
        ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...files],
        { stdio: 'inherit', env: { ...process.env, LABQ_TEST_ADMIN_URL: cluster.adminUrl } },
      );
      return new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
    };
    if (paths.length) return await run(paths, 2);
    // The files whose transactions last many seconds (a 100,000-task sweep in one request)
    // run last, alone: the log's readers wait for the oldest running transaction of the
    // whole cluster, and would wait for theirs in another file's database.
    const files = (await readdir('dist', { recursive: true })).filter((f) => f.endsWith('.test.js')).map((f) => join('dist', f)).sort();
    const heavy = files.filter((f) => LONG_TRANSACTIONS.some((name) => f.endsWith(name)));
    const first = await run(files.filter((f) => !heavy.includes(f)), 2);
    const last = await run(heavy, 1);
    return first || last;
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
