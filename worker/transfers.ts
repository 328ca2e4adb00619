// Moving a task's data: inputs and resources in, the output directory out, by URI
// (shared/uri.ts), through the transfer engine (./copy.ts) and its stores (./stores). This
// module owns what a task's fields mean and the per-worker resource cache.
//
// Folders follow rsync's rule: a URI ending in `/` delivers the folder's content, one without
// delivers the folder itself under its name. An output URI always names a folder, whose
// content becomes the output directory's.
//
// Resource cache: one directory per resource spec (sha256 of the URI with its steps), shared
// read-only by every execution. An entry is built in a temporary directory and renamed into
// place, so an entry that exists is complete, even if the worker died while building one;
// concurrent calls in this process share one build, and two processes racing on one cache
// directory both build and the first rename wins. A caller whose build was aborted by another
// caller's signal builds again rather than failing.
//
// Errors name the URI, with any credentials masked.

import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { maskUri, parseResource, parseUri } from '../shared/uri.js';
import { copyFiles, localName, locate, sourceFiles, type CopyOptions } from './copy.js';
import { withRetries } from './retry.js';
import { applyStep } from './unpack.js';

/**
 * Fetches `uri` into `destDir` (created if needed): a file or folder under its own name, or a
 * folder's content when the URI ends in `/`. Returns the local path (`destDir` for content).
 */
export async function download(uri: string, destDir: string, options: CopyOptions = {}): Promise<string> {
  const source = locate(check(parseUri(uri)));
  options.signal?.throwIfAborted();
  await mkdir(destDir, { recursive: true });
  try {
    const files = await withRetries(() => sourceFiles(source, options.signal), options.signal);
    await copyFiles(files, source, locate(check(parseUri(pathToFileURL(destDir).href))), destDir, options);
    return source.path === '' || source.path.endsWith('/') ? destDir : join(destDir, localName(source.uri.path));
  } catch (error) {
    throw options.signal?.aborted ? error : new Error(`download of ${maskUri(uri)} failed: ${describe(error)}`, { cause: error });
  } finally {
    source.store.close();
  }
}

/** Makes a resource available in the cache and returns the directory to mount read-only. */
export async function prepareResource(spec: string, cacheDir: string, options: CopyOptions = {}): Promise<string> {
  const { signal } = options;
  const entry = join(cacheDir, createHash('sha256').update(spec).digest('hex'));
  for (;;) {
    signal?.throwIfAborted();
    if (await exists(entry)) return entry;
    let build = building.get(entry);
    if (!build) {
      const promise = buildResource(spec, cacheDir, entry, options).finally(() => building.delete(entry));
      build = { promise, signal };
      building.set(entry, build);
    }
    try {
      return await abortable(build.promise, signal);
    } catch (error) {
      if (signal?.aborted || !build.signal?.aborted) throw error;
    }
  }
}

/** Copies the content of `sourceDir` into the `uri` folder; returns how many files went. */
export async function upload(sourceDir: string, uri: string, options: CopyOptions = {}): Promise<number> {
  const destination = locate(check(parseUri(uri)));
  if (!(await stat(sourceDir)).isDirectory()) throw new Error(`${sourceDir} is not a directory`);
  try {
    if (!destination.store.writable) throw new Error(`${destination.uri.scheme}:// does not take uploads: use s3, ftp or file`);
    const source = locate(check(parseUri(pathToFileURL(sourceDir).href + '/')));
    return await copyFiles(await sourceFiles(source, options.signal), source, destination, destination.path, options);
  } catch (error) {
    throw options.signal?.aborted ? error : new Error(`upload to ${maskUri(uri)} failed: ${describe(error)}`, { cause: error });
  } finally {
    destination.store.close();
  }
}

/** Builds in progress, by entry, with the signal of the caller that started each. */
const building = new Map<string, { promise: Promise<string>; signal?: AbortSignal }>();

async function buildResource(spec: string, cacheDir: string, entry: string, options: CopyOptions): Promise<string> {
  const { signal } = options;
  const { url, steps } = check(parseResource(spec));
  await mkdir(cacheDir, { recursive: true });
  // Dot names: scratch, never mistaken for an entry; what a crash leaves behind is safe to delete.
  const work = await mkdtemp(join(cacheDir, '.work-'));
  const staging = await mkdtemp(join(cacheDir, '.entry-'));
  try {
    // Without steps, the download folder is the entry: a file or folder under its name, or a folder's content.
    const fetched = join(work, 'download');
    let current = await download(url.href, fetched, options);
    for (const [i, step] of steps.entries()) {
      const out = i === steps.length - 1 ? staging : await mkdtemp(join(work, 'step-'));
      current = await applyStep(step, current, out, signal);
    }
    try {
      await rename(steps.length === 0 ? fetched : staging, entry);
    } catch (error) {
      // Another process finished the same entry first; its copy is as good as ours.
      if (!['EEXIST', 'ENOTEMPTY'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
    return entry;
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

function check<T>(result: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!result.ok) throw new Error(result.error);
  return result.value;
}

/** An error's message, with the code or name the SDKs put beside a terse one. */
function describe(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string };
  const message = e.message || String(error);
  const label = e.code ?? (e.name && e.name !== 'Error' ? e.name : undefined);
  return label && !message.includes(label) ? `${label}: ${message}` : message;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

/** Waits for `promise`, giving up (not cancelling it) when `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
