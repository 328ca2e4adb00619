// What `labq fetch sync` does, decided before anything moves (so that --dry-run tells exactly
// what a run would do): the files of SRC's content that DST lacks or holds differently, and
// with --delete the files of DST that SRC does not have. DST is listed once, not asked about
// file by file, so a sync of many files costs one listing per side.
//
// The rule is rclone's default: a file is the same when DST has it at the same relative path
// with the same size and a modification time not older than SRC's, to the second (S3 keeps
// whole seconds); when either side gives no time (an FTP listing, a server without
// Last-Modified), the size alone decides.
import { sourceFiles, under, type Location, type SourceFile } from '../worker/copy.js';
import { withRetries } from '../worker/retry.js';
import type { RemoteFile } from '../worker/stores/types.js';

export interface SyncPlan {
  copy: SourceFile[];
  skipped: number;
  /** Store paths in DST. */
  remove: string[];
}

const TIME_PRECISION_MS = 1000;

export async function planSync(from: Location, to: Location, withDelete: boolean, signal: AbortSignal): Promise<SyncPlan> {
  const source = await contentOf(from, signal);
  const files = await withRetries(() => sourceFiles(source, signal), signal);
  const there = new Map((await withRetries(() => to.store.list(to.path, signal), signal)).map((file) => [file.path, file]));
  const copy = files.filter((item) => !same(item.file, there.get(item.to)));
  const wanted = new Set(files.map((item) => item.to));
  const remove = withDelete ? [...there.keys()].filter((path) => !wanted.has(path)).map((path) => under(to.path, path)) : [];
  return { copy, skipped: files.length - copy.length, remove };
}

/** A folder given without its trailing slash still means its content: sync mirrors folders. */
async function contentOf(at: Location, signal: AbortSignal): Promise<Location> {
  if (at.path === '' || at.path.endsWith('/')) return at;
  const found = await withRetries(() => at.store.stat(at.path, signal), signal);
  return found?.kind === 'folder' ? { ...at, path: `${at.path}/` } : at;
}

function same(source: RemoteFile, target: RemoteFile | undefined): boolean {
  if (!target || source.size < 0 || target.size !== source.size) return false;
  if (!source.modified || !target.modified) return true;
  return target.modified.getTime() >= source.modified.getTime() - TIME_PRECISION_MS;
}
