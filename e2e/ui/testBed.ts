// What the browser tests of a view share: one browser and one server for the file, the
// worker daemons a test starts, and at the end every task cancelled and ended before the
// workers stop (a stopping worker lets its tasks finish, and no longer hears kill orders);
// and the check after a click that the event log has the action with the user who clicked
// as its actor (the log is read commit-safe, so the read waits for it).
import { after, before } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { Browser } from 'playwright-core';
import type { RouteQuery } from '../../shared/api.js';
import type { EventRecord } from '../../shared/schemas/event.js';
import { UNFINISHED_TASK_STATUSES } from '../../shared/schemas/task.js';
import type { WorkerDaemon } from '../../worker/daemon.js';
import { launchBrowser } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTestWorker, until } from '../support/worker.js';

/** Set by the file's `before` hook, so read inside tests. */
export class TestBed {
  browser!: Browser;
  ts!: TestServer;
  readonly workers: WorkerDaemon[] = [];

  /** A worker daemon running bare tasks, stopped after the file's tests. */
  async worker(options: Parameters<typeof startTestWorker>[1] = {}): Promise<WorkerDaemon> {
    const daemon = await startTestWorker(this.ts, options);
    this.workers.push(daemon);
    return daemon;
  }
}

export function testBed(): TestBed {
  const bed = new TestBed();
  before(async () => {
    bed.browser = await launchBrowser();
    bed.ts = await startTestServer();
  });
  after(async () => {
    // Only where the bed's own workers run tasks: files that stop their workers themselves clean up after themselves.
    if (bed.ts && bed.workers.length) {
      await bed.ts.client.call('cancelTasks', { body: { filter: { all: true }, grace_seconds: 0 } });
      const unfinished = UNFINISHED_TASK_STATUSES.join(',');
      await until('every task to end', async () => (await bed.ts.client.listTasks({ status: unfinished, limit: 1 })).items.length === 0);
    }
    for (const worker of bed.workers) await worker.stop();
    await bed.browser?.close();
    await bed.ts?.close();
  });
  return bed;
}

/**
 * The newest event the query matches that `actor` did and whose data holds `data` (each key
 * equal), once the log shows it. `data` tells an action from an earlier one of the same type:
 * the log is read commit-safe, so the newest readable event may still be the earlier one.
 */
export function loggedBy(
  ts: Pick<TestServer, 'client'>, actor: string, query: RouteQuery<'latestEvents'>, data: Record<string, unknown> = {},
): Promise<EventRecord> {
  const holds = (event: EventRecord) => Object.entries(data).every(([key, value]) => isDeepStrictEqual(event.data[key], value));
  return until(`${query.type ?? 'an event'} by ${actor} with ${JSON.stringify(data)} in the log`, async () => {
    const { items } = await ts.client.call('latestEvents', { query: { ...query, actor, limit: 10 } });
    return items.find(holds);
  });
}
