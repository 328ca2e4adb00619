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

export function clientFrom(flags: ClientFlags): LabqClient {
  const dataDir = flags.dataDir ?? defaultDataDir();
  const server = flags.server ?? process.env.LABQ_SERVER ?? readIfExists(serverFile(dataDir)) ?? `http://${DEFAULT_HOST}:${defaultPort()}`;
  const token = flags.token ?? process.env.LABQ_TOKEN ?? readIfExists(tokenFile(dataDir));
  return new LabqClient({ server, token });
}
