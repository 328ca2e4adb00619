// A real labq server on a fresh database, on a free port, with an admin token: what most
// tests start from.
import assert from 'node:assert/strict';
import { sql } from 'slonik';
import { createToken } from '../../server/auth/tokens.js';
import { startServer, type RunningServer, type TlsFiles } from '../../server/server.js';
import type { QueueSettings } from '../../server/settings.js';
import { LabqClient } from '../../shared/client.js';
import { freshDatabase } from './db.js';

/** The key for secrets of every test server, so that several on one database open each other's. */
export const TEST_SECRET_KEY = Buffer.alloc(32, 7).toString('base64');

export interface TestServer {
  databaseUrl: string;
  server: RunningServer;
  /** What the server logged. */
  logs: string[];
  url: string;
  token: string;
  client: LabqClient;
  close(): Promise<void>;
}

export async function startTestServer(
  options: { databaseUrl?: string; port?: number; settings?: Partial<QueueSettings>; trustProxy?: boolean; secretKey?: string; tls?: TlsFiles } = {},
): Promise<TestServer> {
  const databaseUrl = options.databaseUrl ?? (await freshDatabase());
  const logs: string[] = [];
  const server = await startServer({
    databaseUrl, host: '127.0.0.1', port: options.port ?? 0, log: (line) => logs.push(line), settings: options.settings, trustProxy: options.trustProxy,
    secretKey: options.secretKey ?? TEST_SECRET_KEY, tls: options.tls,
  });
  const token = await createToken(server.pool, `admin-${Date.now()}-${Math.random()}`, 'admin', { actor: 'test', request_id: null, source: null });
  return {
    databaseUrl,
    server,
    logs,
    url: server.url,
    token,
    client: new LabqClient({ server: server.url, token }),
    close: () => server.close(),
  };
}

/** Raw HTTP against a test server, for what the typed client would refuse to send. */
export async function http(ts: TestServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(ts.url + path, {
    method,
    headers: {
      authorization: `Bearer ${ts.token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, type: response.headers.get('content-type') ?? '', json, text };
}

/**
 * Sends a request that must be refused with a 400 (problem+json) naming `field` alone with a
 * reason matching `reason`, and checks that no event and no task was written.
 */
export async function refusedField(ts: TestServer, method: string, path: string, body: unknown, field: string, reason: RegExp): Promise<void> {
  const counts = async () => ts.server.pool.one(sql.unsafe`SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM tasks) AS tasks`);
  const before = await counts();
  const answer = await http(ts, method, path, body);
  assert.equal(answer.status, 400, answer.text);
  assert.match(answer.type, /problem\+json/);
  assert.deepEqual(answer.json.errors.map((e: { field: string }) => e.field), [field], answer.text);
  assert.match(answer.json.errors[0].message, reason);
  assert.deepEqual(await counts(), before, 'nothing recorded');
}

/** A port nothing listens on now, for a server that must come back on the same address. */
export { freePort } from '../../server/db/embedded.js';
