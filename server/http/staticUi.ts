// Serves the monitoring UI (ui/, built by Vite into dist/ui) at `/`: its files as they are,
// and index.html for every other page path, since the UI routes in the browser and a deep
// link (/tasks/42?tab=log) must load the app. The files are read once, at the first
// request, and kept in memory: a few hundred kilobytes that every page load asks for.
// Hashed assets are cached for good; index.html never, so a new build is seen at once.
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Next } from 'koa';
import { API_PREFIX } from '../../shared/api.js';
import { ProblemError } from '../errors.js';

/** Where the build lands: dist/ui beside dist/server. */
export const UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load and call only its own origin, run no inline script and never be framed:
 * a task's output shown in the log view cannot become script even if escaping failed.
 * Inline styles stay allowed: Svelte sets style attributes (a progress bar's width).
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface UiFile {
  body: Buffer;
  type: string;
  immutable: boolean;
}

async function loadFiles(dir: string): Promise<Map<string, UiFile> | null> {
  let names: string[];
  try {
    names = await readdir(dir, { recursive: true });
  } catch {
    return null;
  }
  const files = new Map<string, UiFile>();
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const path = '/' + relative(dir, join(dir, name)).split(sep).join('/');
    files.set(path, { body: await readFile(join(dir, name)), type, immutable: path.startsWith('/assets/') });
  }
  return files.has('/index.html') ? files : null;
}

function isPagePath(path: string): boolean {
  return !extname(path);
}

export function staticUi(dir = UI_DIR) {
  let files: Promise<Map<string, UiFile> | null> | null = null;
  return async (ctx: Context, next: Next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.path === API_PREFIX || ctx.path.startsWith(API_PREFIX + '/')) return next();
    files ??= loadFiles(dir);
    const loaded = await files;
    const file = loaded?.get(ctx.path) ?? (isPagePath(ctx.path) ? loaded?.get('/index.html') : undefined);
    if (!loaded && isPagePath(ctx.path)) {
      files = null;
      throw new ProblemError(404, 'UI not built', `no UI in ${dir}: run \`npm run build\` (npm start and npm test build it)`);
    }
    if (!file) return next();
    ctx.set(SECURITY_HEADERS);
    ctx.set('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    ctx.type = file.type;
    ctx.body = file.body;
  };
}
