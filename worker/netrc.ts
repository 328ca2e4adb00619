// ~/.netrc, the file curl, wget and ftp read credentials from: `machine HOST login USER
// password PASS` entries (any whitespace between tokens, double quotes around a token with
// spaces), a `default` entry, and `macdef` blocks (skipped up to their blank line).
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface NetrcEntry {
  login?: string;
  password?: string;
}

export function parseNetrc(text: string): Map<string, NetrcEntry> {
  const entries = new Map<string, NetrcEntry>();
  const body = text.replace(/^macdef[^\n]*\n(?:[^\n]+\n)*/gm, '');
  // A token is a word, or a double-quoted string (curl's extension, for passwords with spaces).
  const tokens = [...body.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[2] ?? m[1]!.replace(/\\(.)/g, '$1'));
  let current: NetrcEntry | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === 'machine' || token === 'default') {
      const name = token === 'default' ? '' : tokens[++i] ?? '';
      current = {};
      if (!entries.has(name)) entries.set(name, current);
    } else if (current && (token === 'login' || token === 'password')) {
      current[token] = tokens[++i];
    } else if (token === 'account') {
      i++;
    }
  }
  return entries;
}

/** The credentials for `host` in the worker's ~/.netrc (its `default` entry otherwise), if any. */
export async function netrcFor(host: string): Promise<NetrcEntry | undefined> {
  const text = await readFile(join(process.env.HOME || homedir(), '.netrc'), 'utf8').catch(() => '');
  const entries = parseNetrc(text);
  return entries.get(host) ?? entries.get('');
}
