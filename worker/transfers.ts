// Moving a task's data: inputs and resources in, the output directory out, by URI
// (shared/uri.ts). This module owns the schemes the worker speaks (file://, http(s):// for now;
// s3:// and ftp:// come later and plug into the same three functions) and the per-worker
// resource cache.
//
// Resource cache: one directory per resource spec (sha256 of the URI with its steps), shared
// read-only by every execution. An entry is built in a temporary directory and renamed into
// place, so an entry that exists is complete, even if the worker died while building one;
// concurrent calls in this process share one build, and two processes racing on one cache
// directory both build and the first rename wins. A caller whose build was aborted by another
// caller's signal builds again rather than failing.
//
// Credentials never appear in errors: URIs are shown with them masked.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parseResource, parseUri, type ParsedUri, type ResourceStep } from '../shared/uri.js';

/** Fetches `uri` into `destDir` (created if needed), keeping its base name; returns the local path. */
export async function download(uri: string, destDir: string, signal?: AbortSignal): Promise<string> {
  const parsed = check(parseUri(uri));
  signal?.throwIfAborted();
  await mkdir(destDir, { recursive: true });
  switch (parsed.scheme) {
    case 'file': {
      const target = join(destDir, localName(parsed.path));
      if ((await stat(parsed.path)).isDirectory()) await copyTree(parsed.path, target, signal);
      else await copyFile(parsed.path, target);
      return target;
    }
    case 'http':
    case 'https':
      return fetchToFile(parsed, destDir, signal);
    default:
      throw unsupported(parsed.scheme, 'transfers');
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

/** Copies the contents of `sourceDir` to the `uri` directory; returns how many files went. */
export async function upload(sourceDir: string, uri: string, signal?: AbortSignal): Promise<number> {
  const parsed = check(parseUri(uri));
  if (parsed.scheme !== 'file') throw unsupported(parsed.scheme, 'uploads');
  if (!(await stat(sourceDir)).isDirectory()) throw new Error(`${sourceDir} is not a directory`);
  return copyTree(sourceDir, parsed.path, signal);
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
    let current = await download(url.href, join(work, 'download'), signal);
    for (const [i, step] of steps.entries()) {
      const out = i === steps.length - 1 ? staging : await mkdtemp(join(work, 'step-'));
      current = await applyStep(step, current, out, signal);
    }
    if (steps.length === 0) await rename(current, join(staging, basename(current)));
    try {
      await rename(staging, entry);
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

/** Runs one post-processing step on `input` (a file), writing into `outDir`; returns the result's path. */
async function applyStep(step: ResourceStep, input: string, outDir: string, signal?: AbortSignal): Promise<string> {
  if (!(await stat(input)).isFile()) throw new Error(`the ${step} step needs a file, but ${basename(input)} is a directory`);
  switch (step) {
    case 'untar':
      await run('tar', ['-xf', input, '-C', outDir, '--no-same-owner'], signal);
      return outDir;
    case 'unzip':
      await run('unzip', ['-q', '-o', input, '-d', outDir], signal);
      return outDir;
    case 'gunzip': {
      const output = join(outDir, basename(input).replace(/\.tgz$/i, '.tar').replace(/\.(gz|gzip)$/i, '') || 'data');
      await run('gunzip', ['-c', input], signal, output);
      return output;
    }
  }
}

/** Runs a tool to completion; its stdout goes to `stdoutPath` when given, its stderr into the error. */
async function run(command: string, args: string[], signal: AbortSignal | undefined, stdoutPath?: string): Promise<void> {
  const child = spawn(command, args, { signal, stdio: ['ignore', stdoutPath ? 'pipe' : 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text;
  });
  const written = stdoutPath ? pipeline(child.stdout!, createWriteStream(stdoutPath)) : undefined;
  const [code] = await Promise.all([
    new Promise<number | null>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? new Error(`this worker has no \`${command}\` command, which the resource needs`) : error));
      child.once('close', resolve);
    }),
    written,
  ]);
  if (code !== 0) throw new Error(`${command} failed (exit ${code}): ${stderr.trim() || 'no message'}`);
}

async function fetchToFile(parsed: ParsedUri, destDir: string, signal?: AbortSignal): Promise<string> {
  // fetch refuses URLs with credentials: they travel as a Basic authorization header instead.
  const url = new URL(parsed.url.href);
  const headers: Record<string, string> = {};
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
    url.username = url.password = '';
  }
  const response = await fetch(url, { headers, signal });
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`GET ${redact(parsed.url)} failed: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const target = join(destDir, localName(parsed.path));
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

function unsupported(scheme: string, what: string): Error {
  return new Error(`${scheme}:// ${what} are not supported by this worker yet`);
}

/** The URL with its credentials masked (a username alone may be a token). */
function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.username) copy.username = '***';
  if (copy.password) copy.password = '***';
  return copy.href;
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
