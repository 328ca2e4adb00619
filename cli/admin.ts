// `labq admin …`: operations that work on the database itself rather than through the API
// — rebuilding projections, managing tokens, the first users. They use DATABASE_URL, or the embedded
// database of the data directory: the running one, or started for the command.
import { Command, Option } from 'commander';
import { CreateUserBody } from '../shared/schemas/account.js';
import type { Role } from '../server/auth/tokens.js';
import { defaultDataDir } from '../server/config.js';
import type { Pool } from '../server/db/pool.js';
import { print, table } from './format.js';
import { readPassword, roleOption } from './password.js';

const meta = { actor: 'labq admin', request_id: null, source: 'local' };

// The server's modules (PostgreSQL's driver, slonik, the commands) load when an admin
// command runs, not with the CLI: `labq worker` and every API command would carry them.
async function withDatabase<T>(dataDir: string, databaseUrl: string | undefined, work: (pool: Pool) => Promise<T>): Promise<T> {
  const [{ runningEmbeddedUrl, startEmbeddedPostgres }, { migrate }, { connectPool }] = await Promise.all([
    import('../server/db/embedded.js'), import('../server/db/migrate.js'), import('../server/db/pool.js'),
  ]);
  // Next to a running labq, use its database (commands wait for a rebuild); else start it.
  const running = databaseUrl ? null : await runningEmbeddedUrl(dataDir);
  const embedded = databaseUrl || running ? null : await startEmbeddedPostgres({ dataDir });
  const url = databaseUrl ?? running ?? embedded!.url;
  try {
    await migrate(url);
    const pool = await connectPool(url);
    try {
      return await work(pool);
    } finally {
      await pool.end();
    }
  } finally {
    await embedded?.stop();
  }
}

export function adminCommands(program: Command, flags: () => { dataDir?: string; json?: boolean }): void {
  const admin = program.command('admin').description('administration, on the database itself');
  const database = () => new Option('--database-url <url>', 'external PostgreSQL; absent: the embedded one, running or not').env('DATABASE_URL');
  const dataDir = () => flags().dataDir ?? defaultDataDir();

  admin
    .command('rebuild')
    .description('replay the whole event log into fresh projections')
    .addOption(database())
    .action(async (o) => {
      const { rebuildProjections } = await import('../server/admin/rebuild.js');
      const total = await withDatabase(dataDir(), o.databaseUrl, (pool) =>
        rebuildProjections(pool, (n) => process.stderr.write(`\rreplayed ${n} events`)));
      process.stderr.write('\n');
      process.stdout.write(`rebuilt projections from ${total} events\n`);
    });

  const user = admin.command('user').description('create the first users, before anyone can log in (then: labq user)');
  user
    .command('add')
    .description('create a user; the password is asked without echo, or read from the first line of stdin')
    .argument('<name>')
    .addOption(roleOption('admin'))
    .addOption(database())
    .action(async (name: string, o) => {
      const parsed = CreateUserBody.safeParse({ name, role: o.role, password: await readPassword(`password for ${name}: `) });
      if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const { createUser } = await import('../server/commands/createUser.js');
      await withDatabase(dataDir(), o.databaseUrl, (pool) => createUser(pool, parsed.data, meta));
      process.stdout.write(`user ${name} created (${o.role})\n`);
    });

  const token = admin.command('token').description('create, list and revoke API tokens');
  token
    .command('create')
    .description('create a token and print it (it is shown once: only its SHA-256 is kept)')
    .argument('<name>', 'a unique name, recorded as the actor of what the token does')
    .addOption(roleOption('worker'))
    .addOption(database())
    .action(async (name: string, o) => {
      const { createToken, freeTokenName } = await import('../server/auth/tokens.js');
      const value = await withDatabase(dataDir(), o.databaseUrl, async (pool) => {
        if ((await freeTokenName(pool, name)) !== name) throw new Error(`a token named "${name}" exists already`);
        return createToken(pool, name, o.role as Role, meta);
      });
      process.stdout.write(value + '\n');
    });
  token
    .command('list')
    .description('tokens (names and roles, never the secrets)')
    .addOption(database())
    .action(async (o) => {
      const { sql } = await import('slonik');
      const rows = await withDatabase(dataDir(), o.databaseUrl, async (pool) =>
        [...(await pool.any(sql.unsafe`SELECT name, role, created_at, expires_at, revoked_at FROM api_tokens ORDER BY id`))]);
      print(rows, !!flags().json, () => table(rows, ['name', 'role', 'created_at', 'expires_at', 'revoked_at']));
    });
  token
    .command('revoke')
    .description('revoke a token: it is refused from now on')
    .argument('<name>')
    .addOption(database())
    .action(async (name: string, o) => {
      const { revokeToken } = await import('../server/auth/tokens.js');
      await withDatabase(dataDir(), o.databaseUrl, (pool) => revokeToken(pool, name, meta));
      process.stdout.write(`token ${name} revoked\n`);
    });
}
