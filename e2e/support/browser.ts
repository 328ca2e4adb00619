// The UI in a real browser: Debian's Chromium driven by playwright-core (no downloaded
// browser), logged in to a test server as a user of a given role. Screenshots for
// docs/ui.md are taken by the tests themselves when LABQ_SCREENSHOTS names a folder
// (`npm run screenshots`), so the pictures always show what the tests proved.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Role } from '../../shared/schemas/auth.js';
import type { TestServer } from './server.js';

export const CHROMIUM = process.env.LABQ_CHROMIUM ?? '/usr/bin/chromium';

/** What this machine's closed network needs: no sandbox as root, and none of Chromium's own calls home. */
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

export interface UiSession {
  context: BrowserContext;
  page: Page;
  user: { name: string; password: string; role: Role };
  /** Uncaught errors of the page: a test ends by checking there were none. */
  errors: string[];
}

/** A user of `role` on the server, logged in through the login form (or with a token of that role). */
export async function openUi(
  browser: Browser, ts: Pick<TestServer, 'url' | 'client'>,
  { role = 'operator', via = 'password', path = '/', colorScheme = 'light' }: { role?: Role; via?: 'password' | 'token'; path?: string; colorScheme?: 'light' | 'dark' } = {},
): Promise<UiSession> {
  const user = { name: `ui-${role}-${randomUUID().slice(0, 6)}`, password: 'a long enough password', role };
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(20_000);
  await page.goto(ts.url + path);
  if (via === 'password') {
    await ts.client.createUser({ name: user.name, role, password: user.password });
    await page.getByLabel('Name').fill(user.name);
    await page.getByLabel('Password').fill(user.password);
  } else {
    const token = await ts.client.createToken({ name: user.name, role });
    await page.getByRole('tab', { name: 'Token' }).click();
    await page.getByLabel('API token').fill(token.token);
  }
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('[data-live="live"]').waitFor();
  return { context, page, user, errors };
}

/** Saves a picture of the page for docs/ui.md, when the screenshots are being refreshed. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.LABQ_SCREENSHOTS;
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}
