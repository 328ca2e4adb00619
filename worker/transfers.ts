// Moving a task's data: inputs and resources in, the output directory out, by URI
// (shared/uri.ts). This module owns the folder rule and the per-worker resource cache; the
// schemes are file:// and http(s):// here, s3:// (./s3.ts) and ftp:// (./ftp.ts).
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
import { createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { maskUri, parseResource, parseUri, type ParsedUri } from '../shared/uri.js';
import { downloadFtp, uploadFtp } from './ftp.js';
import { HttpStatusError, withRetries } from './retry.js';
import { downloadS3, uploadS3 } from './s3.js';
import { applyStep } from './unpack.js';

/**
 * Fetches `uri` into `destDir` (created if needed): a file or folder under its own name, or a
 * folder's content when the URI ends in `/`. Returns the local path (`destDir` for content).
 */
export async function download(uri: string, destDir: string, signal?: AbortSignal): Promise<string> {
  const parsed = check(parseUri(uri));
  signal?.throwIfAborted();
  await mkdir(destDir, { recursive: true });
  try {
    return await fetchInto(parsed, destDir, signal);
  } catch (error) {
    throw signal?.aborted ? error : new Error(`download of ${maskUri(uri)} failed: ${describe(error)}`, { cause: error });
  }
}

async function fetchInto(parsed: ParsedUri, destDir: string, signal?: AbortSignal): Promise<string> {
  const name = localName(parsed.path);
  switch (parsed.scheme) {
    case 'file': {
      const content = parsed.path.endsWith('/');
      const target = content ? destDir : join(destDir, name);
      if ((await stat(parsed.path)).isDirectory()) await copyTree(parsed.path, target, signal);
      else if (content) throw new Error('not a folder, but the URI ends in /');
      else await copyFile(parsed.path, target);
      return target;
    }
    case 'http':
    case 'https':
      if (parsed.path.endsWith('/')) throw new Error('an http(s) URI names a file: folders can only be fetched over s3, ftp or file');
      return withRetries(() => fetchToFile(parsed, join(destDir, name), signal), signal);
    case 's3':
      return downloadS3(parsed, destDir, name, signal);
    case 'ftp':
      return downloadFtp(parsed, destDir, name, signal);
  }
}

/** Makes a resource available in the cache and returns the directory to mount read-only. */
export async function prepareResource(spec: string, cacheDir: string, signal?: AbortSignal): Promise<string> {
  const entry = join(cacheDir, createHash('sha256').update(spec).digest('hex'));
  for (;;) {
    signal?.throwIfAborted();
    if (await exists(entry)) return entry;
    let build = building.get(entry);
    if (!build) {
      const promise = buildResource(spec, cacheDir, entry, signal).finally(() => building.delete(entry));
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
export async function upload(sourceDir: string, uri: string, signal?: AbortSignal): Promise<number> {
  const parsed = check(parseUri(uri));
  if (!(await stat(sourceDir)).isDirectory()) throw new Error(`${sourceDir} is not a directory`);
  try {
    switch (parsed.scheme) {
      case 'file':
        return await copyTree(sourceDir, parsed.path, signal);
      case 's3':
        return await uploadS3(sourceDir, await listFiles(sourceDir), parsed, signal);
      case 'ftp':
        return await uploadFtp(sourceDir, await listFiles(sourceDir), parsed, signal);
      default:
        throw new Error(`${parsed.scheme}:// does not take uploads: use s3, ftp or file`);
    }
  } catch (error) {
    throw signal?.aborted ? error : new Error(`upload to ${maskUri(uri)} failed: ${describe(error)}`, { cause: error });
  }
}

/** Builds in progress, by entry, with the signal of the caller that started each. */
const building = new Map<string, { promise: Promise<string>; signal?: AbortSignal }>();

async function buildResource(spec: string, cacheDir: string, entry: string, signal?: AbortSignal): Promise<string> {
  const { url, steps } = check(parseResource(spec));
  await mkdir(cacheDir, { recursive: true });
  // Dot names: scratch, never mistaken for an entry; what a crash leaves behind is safe to delete.
  const work = await mkdtemp(join(cacheDir, '.work-'));
  const staging = await mkdtemp(join(cacheDir, '.entry-'));
  try {
    // Without steps, the download folder is the entry: a file or folder under its name, or a folder's content.
    const fetched = join(work, 'download');
    let current = await download(url.href, fetched, signal);
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

async function fetchToFile(parsed: ParsedUri, target: string, signal?: AbortSignal): Promise<string> {
  const response = await fetch(parsed.url, { signal });
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new HttpStatusError(`HTTP ${response.status} ${response.statusText}`.trim(), response.status);
  }
  // A partial file never takes the real name, so a failed download is never mistaken for a done one.
  const partial = `${target}.part`;
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), createWriteStream(partial), { signal });
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return target;
}

/** Every file under `dir` (symlinks followed as files), for the stores that upload file by file. */
async function listFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() || entry.isSymbolicLink()) files.push(join(entry.parentPath, entry.name));
  }
  return files.sort();
}

/** Copies a directory's contents into `to` (created), keeping symlinks as links; returns the number of files and links. */
async function copyTree(from: string, to: string, signal?: AbortSignal): Promise<number> {
  await mkdir(to, { recursive: true });
  let files = 0;
  for (const entry of await readdir(from, { withFileTypes: true })) {
    signal?.throwIfAborted();
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      files += await copyTree(source, target, signal);
    } else if (entry.isSymbolicLink()) {
      await rm(target, { force: true });
      await symlink(await readlink(source), target);
      files++;
    } else if (entry.isFile()) {
      await copyFile(source, target);
      files++;
    }
  }
  return files;
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

/** The last segment of a path, never one that would climb out of the directory it lands in. */
function localName(path: string): string {
  const name = basename(path);
  return name === '' || name === '.' || name === '..' ? 'download' : name;
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
