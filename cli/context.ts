// How the CLI finds its server and token: flags, then LABQ_SERVER / LABQ_TOKEN, then the
// files a local `labq up` leaves in the data directory.
import { existsSync, readFileSync } from 'node:fs';
import { LabqClient } from '../shared/client.js';
import { defaultDataDir, defaultPort, DEFAULT_HOST, serverFile, tokenFile } from '../server/config.js';

export interface ClientFlags {
  server?: string;
  token?: string;
  dataDir?: string;
}

const readIfExists = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined);

/** The token and where it came from (what a refusal of it names), or none found. */
function tokenFrom(flags: ClientFlags): { token?: string; source?: string } {
  if (flags.token) return { token: flags.token, source: 'given with --token' };
  if (process.env.LABQ_TOKEN) return { token: process.env.LABQ_TOKEN, source: 'in LABQ_TOKEN' };
  const file = tokenFile(flags.dataDir ?? defaultDataDir());
  const token = readIfExists(file);
  return token ? { token, source: `in ${file}` } : {};
}

export function clientFrom(flags: ClientFlags): LabqClient {
  const dataDir = flags.dataDir ?? defaultDataDir();
  const server = flags.server ?? process.env.LABQ_SERVER ?? readIfExists(serverFile(dataDir)) ?? `http://${DEFAULT_HOST}:${defaultPort()}`;
  return new LabqClient({ server, token: tokenFrom(flags).token });
}

/** What to do about a 401: the server names what is wrong with the token, not where the CLI found it. */
export function unauthorizedHint(flags: ClientFlags): string {
  const { source } = tokenFrom(flags);
  if (!source) {
    return `no token found: give one with --token or LABQ_TOKEN (on the machine of \`labq up\`, the CLI reads ${tokenFile(flags.dataDir ?? defaultDataDir())})`;
  }
  return `the token ${source} was refused: give a live one with --token or LABQ_TOKEN (an admin lists them with \`labq token list\`, makes one with \`labq token create\`)`;
}
