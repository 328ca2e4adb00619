// Where labq keeps its data and how it is reached: the names of DESIGN.md
// ("Configuration names"), resolved once from flags and the environment.
import { join } from 'node:path';
import envPaths from 'env-paths';

export function defaultDataDir(): string {
  if (process.env.LABQ_DATA_DIR) return process.env.LABQ_DATA_DIR;
  // Root's home is closed to the `postgres` user the embedded database runs as, so root
  // keeps its data where system services do.
  if (process.getuid?.() === 0) return '/var/lib/labq';
  return envPaths('labq', { suffix: '' }).data;
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7420;

export function defaultPort(): number {
  const raw = process.env.LABQ_PORT;
  if (!raw) return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`LABQ_PORT must be a port number, got "${raw}"`);
  return port;
}

/** The file in which `labq up` leaves the admin token for the CLI on the same machine. */
export function tokenFile(dataDir: string): string {
  return join(dataDir, 'admin-token');
}

/** Where `labq up` writes the URL it serves on, so that the CLI finds it. */
export function serverFile(dataDir: string): string {
  return join(dataDir, 'server-url');
}
