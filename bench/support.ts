// What every benchmark starts from: an embedded PostgreSQL in a temporary directory, a
// migrated database, a server and an admin token; and a way to print a figure.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToken } from '../server/auth/tokens.js';
import { startEmbeddedPostgres } from '../server/db/embedded.js';
import { startServer, type RunningServer } from '../server/server.js';
import { LabqClient } from '../shared/client.js';

export interface Bench {
  server: RunningServer;
  client: LabqClient;
  token: string;
  databaseUrl: string;
  stop(): Promise<void>;
}

export async function startBench(): Promise<Bench> {
  const dataDir = await mkdtemp(join(tmpdir(), 'labq-bench-'));
  const database = await startEmbeddedPostgres({ dataDir });
  const server = await startServer({ databaseUrl: database.url, host: '127.0.0.1', port: 0, log: () => undefined });
  const token = await createToken(server.pool, 'bench', 'admin', { actor: 'bench', request_id: null, source: null });
  return {
    server,
    client: new LabqClient({ server: server.url, token }),
    token,
    databaseUrl: database.url,
    async stop() {
      await server.close();
      await database.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function report(name: string, value: number, unit: string): void {
  process.stdout.write(`${name.padEnd(48)} ${value.toFixed(value < 10 ? 2 : 0).padStart(10)} ${unit}\n`);
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Percentiles of some timings in milliseconds, as "p50 / p95 / p99" prints them. */
export function percentiles(values: number[], ps: number[] = [50, 95, 99]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return ps.map((p) => `${percentile(sorted, p).toFixed(1)} ms`).join(' / ');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
