// Reading a password for the CLI: never from an argument (it would show in `ps` and the
// shell's history). From a terminal, a prompt without echo, asked twice; from a pipe, the
// first line of stdin (for scripts: `printf '%s\n' "$PW" | labq user add alice`).
import { Option } from 'commander';
import { ROLES } from '../shared/schemas/auth.js';

export function roleOption(fallback: string): Option {
  return new Option('--role <role>', ROLES.join(', ')).choices(ROLES).default(fallback);
}

async function readStdinLine(): Promise<string> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) {
    text += chunk as string;
    if (text.includes('\n')) break;
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (!line) throw new Error('no password on stdin: give it as the first line, or run from a terminal to be asked');
  return line;
}

function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(), resolve(text);
        if (ch === '\u0003' || ch === '\u0004') return done(), reject(new Error('no password given'));
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export async function readPassword(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return readStdinLine();
  const first = await promptHidden(prompt);
  const again = await promptHidden('again: ');
  if (first !== again) throw new Error('the two passwords differ');
  return first;
}
