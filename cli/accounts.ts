// `labq user …` and `labq token …`: accounts through the API (admin). For the very first
// admin, before anyone can call the API, see `labq admin user add` and `labq admin token`.
import type { Command } from 'commander';
import { clientFrom, type ClientFlags } from './context.js';
import { fromFlags } from './fieldFlags.js';
import { print, table } from './format.js';
import { readPassword, roleOption } from './password.js';

export function accountCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): void {
  const user = program.command('user').description('users who log in with a password (admin)');
  user
    .command('add')
    .description('create a user; the password is asked without echo, or read from the first line of stdin')
    .argument('<name>')
    .addOption(roleOption('viewer'))
    .action(async (name: string, o) => {
      const password = await readPassword(`password for ${name}: `);
      const created = await fromFlags({ role: '--role' }, clientFrom(flags()).createUser({ name, role: o.role, password }));
      print(created, !!flags().json, () => `user ${created.name} created (${created.role})`);
    });
  user
    .command('list')
    .description('users, their roles and live sessions')
    .action(async () => {
      const { items } = await clientFrom(flags()).listUsers();
      print(items, !!flags().json, () => table(items, ['name', 'role', 'created_at', 'sessions']));
    });
  user
    .command('passwd')
    .description("set a user's password (asked, or read from stdin); the user's sessions end")
    .argument('<name>')
    .action(async (name: string) => {
      const password = await readPassword(`new password for ${name}: `);
      const changed = await clientFrom(flags()).updateUser(name, { password });
      print(changed, !!flags().json, () => `password of ${name} changed`);
    });
  user
    .command('role')
    .description("change a user's role")
    .argument('<name>')
    .addOption(roleOption('viewer').makeOptionMandatory())
    .action(async (name: string, o) => {
      const changed = await fromFlags({ role: '--role' }, clientFrom(flags()).updateUser(name, { role: o.role }));
      print(changed, !!flags().json, () => `${name} is now ${changed.role}`);
    });
  user
    .command('rm')
    .description('remove a user: its sessions end, the tokens it made in a session are revoked')
    .argument('<name>')
    .action(async (name: string) => {
      await clientFrom(flags()).removeUser(name);
      print({ removed: name }, !!flags().json, () => `user ${name} removed`);
    });

  const token = program.command('token').description('API tokens for scripts, the CLI and workers (admin)');
  token
    .command('create')
    .description('create a token and print it (shown once: only its SHA-256 is kept)')
    .argument('<name>', 'a unique name, recorded as the actor of what the token does')
    .addOption(roleOption('worker'))
    .option('--expires <duration>', 'lifetime, e.g. 30d, 12h, 90m (default: never)')
    .action(async (name: string, o) => {
      const created = await fromFlags({ role: '--role', expires_in: '--expires' },
        clientFrom(flags()).createToken({ name, role: o.role, expires_in: o.expires }));
      print(created, !!flags().json, () => created.token);
    });
  token
    .command('list')
    .description('tokens: names, roles, expiry and status, never the values')
    .action(async () => {
      const { items } = await clientFrom(flags()).listTokens();
      print(items, !!flags().json, () => table(items, ['name', 'role', 'status', 'created_by', 'created_at', 'expires_at']));
    });
  token
    .command('revoke')
    .description('revoke a token: refused from now on, on every server')
    .argument('<name>')
    .action(async (name: string) => {
      await clientFrom(flags()).revokeToken(name);
      print({ revoked: name }, !!flags().json, () => `token ${name} revoked`);
    });
}
