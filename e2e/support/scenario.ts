// What the failure scenarios (resilience, identity) share: everything a test starts is
// stopped and removed when the test ends, whatever state the test left it in.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startTestServer, type TestServer } from './server.js';
import { spawnWorker, type WorkerProcess } from './worker.js';

/** Short leases (4 s, offline after 2 s) keep the waits of failure scenarios short. */
export const SHORT_LEASES = { leaseSeconds: 4, offlineAfterSeconds: 2 };
/** For a scenario where no lease should end: longer than a worker's backoff (5 s at most) and a process's start on a loaded machine. */
export const LONG_LEASES = { leaseSeconds: 30, offlineAfterSeconds: 15 };

export async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `labq-${prefix}-`));
  t.after(() => rm(dir, { recursive: true, force: true }).catch(() => undefined));
  return dir;
}

/** A test server with short leases, closed when the test ends unless the test closed it. */
export async function scenarioServer(t: TestContext, options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const ts = await startTestServer({ settings: SHORT_LEASES, ...options });
  let closed = false;
  t.after(async () => {
    if (!closed) await ts.close();
  });
  const close = ts.close;
  ts.close = async () => {
    closed = true;
    await close();
  };
  return ts;
}

/** A child-process worker, SIGTERMed (or already dead) when the test ends. */
export function processWorker(t: TestContext, ts: Pick<TestServer, 'url' | 'token'>, args: string[]): WorkerProcess {
  const w = spawnWorker(ts.url, ts.token, args);
  t.after(async () => {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill('SIGTERM');
      await w.exited;
    }
  });
  return w;
}
