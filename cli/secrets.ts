// `labq secret set|list|rm`. A value is never an argument (it would stay in the shell's
// history and show in `ps`): `set` reads it from stdin, or asks for it on a terminal
// without echoing it.
import type { Command } from 'commander';
import { clientFrom, type ClientFlags } from './context.js';
import { print, table } from './format.js';
import { readStdin } from './input.js';

/** Typed at a terminal, nothing echoed; Enter ends it, Ctrl-C or Ctrl-D gives up. */
function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  let value = '';
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003' || char === '\u0004') return done(new Error('no value given'));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    input.on('data', onData);
  });
}

export function secretCommands(program: Command, flags: () => ClientFlags & { json?: boolean }): void {
  const secret = program.command('secret').description('secrets for tasks, referred to as {"secret": "NAME"} in env (admin)');
  secret
    .command('set')
    .description('set a secret, or replace its value: read from stdin, or typed without echo at a terminal')
    .argument('<name>', 'letters, digits, _ . - (at most 128)')
    .action(async (name: string) => {
      // Less one final line break: what `echo` or a file adds.
      const value = process.stdin.isTTY ? await promptHidden(`value of ${name}: `) : (await readStdin()).replace(/\r?\n$/, '');
      if (!value) throw new Error('the value is empty: nothing set');
      const result = await clientFrom(flags()).putSecret(name, value);
      print(result, !!flags().json, () => `secret ${name} ${result.created ? 'set' : 'replaced'}`);
    });
  secret
    .command('list')
    .description('list secrets: names and dates, never values')
    .action(async () => {
      const { items } = await clientFrom(flags()).listSecrets();
      print(items, !!flags().json, () => table(items, ['name', 'created_at', 'updated_at']));
    });
  secret
    .command('rm')
    .description('remove a secret; unfinished tasks that refer to it are refused when a worker takes them, the runs of schedules that do fail')
    .argument('<name>')
    .action(async (name: string) => {
      const result = await clientFrom(flags()).removeSecret(name);
      print(result, !!flags().json, () => `secret ${name} removed` +
        (result.unfinished_tasks ? `\nwarning: ${result.unfinished_tasks} unfinished task(s) refer to it: they will be refused` : '') +
        (result.schedules.length ? `\nwarning: schedule(s) ${result.schedules.join(', ')} refer to it: their runs will fail until it is set again` : ''));
    });
}
