// What the UI tests of steering share: a browser and a server for the file, and the check
// after each click that the event log has the action with the user who clicked as its
// actor (the log is read commit-safe, so the read waits for it).
import { after, before } from 'node:test';
import type { Browser } from 'playwright-core';
import type { RouteQuery } from '../../shared/api.js';
import type { EventRecord } from '../../shared/schemas/event.js';
import { launchBrowser } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { until } from '../support/worker.js';

/** One Chromium and one server for the test file, up before its tests and closed after them. */
export function uiFixture(): { browser: Browser; ts: TestServer } {
  const fixture = {} as { browser: Browser; ts: TestServer };
  before(async () => {
    fixture.browser = await launchBrowser();
    fixture.ts = await startTestServer();
  });
  after(async () => {
    await fixture.browser?.close();
    await fixture.ts?.close();
  });
  return fixture;
}

export function loggedBy(ts: Pick<TestServer, 'client'>, actor: string, query: RouteQuery<'latestEvents'>): Promise<EventRecord> {
  return until(`${query.type ?? 'an event'} by ${actor} in the log`, async () => {
    const { items } = await ts.client.call('latestEvents', { query: { ...query, actor, limit: 10 } });
    return items[0];
  });
}
