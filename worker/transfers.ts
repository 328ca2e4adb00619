// Moving a task's data: inputs and resources in, the output directory out, by URI
// (shared/uri.ts), through the transfer engine (./copy.ts) and its stores (./stores). This
// module owns what a task's fields mean; the per-worker resource cache is ./resourceCache.ts,
// the actions a resource goes through once fetched ./unpack.ts.
//
// Folders follow rsync's rule: a URI ending in `/` delivers the folder's content, one without
// delivers the folder itself under its name. An output URI always names a folder, whose
// content becomes the output directory's.
//
// Errors name the URI, with any credentials masked.

import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { localName, maskUri, noUploads, parseUri, WRITABLE_SCHEMES } from '../shared/uri.js';
import { copyFiles, describeError, locate, sourceFiles, type CopyOptions, type SourceFile } from './copy.js';
import { withRetries } from './retry.js';

export interface DownloadOptions extends CopyOptions {
  /** What the URI delivers, when the caller has listed it already (listSource): the very files it then gets. */
  files?: SourceFile[];
}

/**
 * Fetches `uri` into `destDir` (created if needed): a file or folder under its own name, or a
 * folder's content when the URI ends in `/`. Returns the local path (`destDir` for content).
 */
export async function download(uri: string, destDir: string, options: DownloadOptions = {}): Promise<string> {
  const source = await locate(check(parseUri(uri)));
  options.signal?.throwIfAborted();
  await mkdir(destDir, { recursive: true });
  try {
    const files = options.files ?? await withRetries(() => sourceFiles(source, options.signal), options.signal);
    await copyFiles(files, source, await locate(check(parseUri(pathToFileURL(destDir).href))), destDir, options);
    return source.path === '' || source.path.endsWith('/') ? destDir : join(destDir, localName(source.uri.path));
  } catch (error) {
    throw failed('download of', uri, error, options.signal);
  } finally {
    source.store.close();
  }
}

/** What `uri` delivers, with each file's facts (one stat or listing), failing as a download of it would. */
export async function listSource(uri: string, signal?: AbortSignal): Promise<SourceFile[]> {
  const source = await locate(check(parseUri(uri)));
  try {
    return await withRetries(() => sourceFiles(source, signal), signal);
  } catch (error) {
    throw failed('download of', uri, error, signal);
  } finally {
    source.store.close();
  }
}

/** Where inputs[index] delivers `path`, which inputs[earlier] delivers too (or a file where the other has a folder). */
export interface InputClash {
  index: number;
  earlier: number;
  path: string;
}

/**
 * Whether inputs need listing before any is fetched, to see what lands where: a folder's
 * content (a URI ending in `/`) may hold a name that another input delivers. Without one, the
 * names checked at submit (sameLandings) are all there is.
 */
export function contentAmong(inputs: string[]): boolean {
  return inputs.length > 1 && inputs.some((uri) => {
    const parsed = parseUri(uri);
    return parsed.ok && (parsed.value.path === '' || parsed.value.path.endsWith('/'));
  });
}

/**
 * The first path that two inputs' files (as listSource gives them, in the inputs' order) both
 * land on in the one input folder: the later would silently replace the earlier, or a file
 * stand where a folder must. Folders that two inputs both fill merge, as `cp -r` merges them.
 */
export function inputClash(lists: SourceFile[][]): InputClash | null {
  const files = new Map<string, number>();
  const folders = new Map<string, number>();
  for (const [index, list] of lists.entries()) {
    for (const { to } of list) {
      const earlier = files.get(to) ?? folders.get(to);
      if (earlier !== undefined) return { index, earlier, path: to };
      const parts = to.split('/');
      for (let depth = 1; depth < parts.length; depth++) {
        const folder = parts.slice(0, depth).join('/');
        const file = files.get(folder);
        if (file !== undefined) return { index, earlier: file, path: folder };
        if (!folders.has(folder)) folders.set(folder, index);
      }
      files.set(to, index);
    }
  }
  return null;
}

/** Copies the content of `sourceDir` into the `uri` folder; returns how many files went. */
export async function upload(sourceDir: string, uri: string, options: CopyOptions = {}): Promise<number> {
  const destination = await locate(check(parseUri(uri)));
  if (!(await stat(sourceDir)).isDirectory()) throw new Error(`${sourceDir} is not a directory`);
  try {
    if (!WRITABLE_SCHEMES.includes(destination.uri.scheme)) throw new Error(noUploads(destination.uri.scheme));
    const source = await locate(check(parseUri(pathToFileURL(sourceDir).href + '/')));
    return await copyFiles(await sourceFiles(source, options.signal), source, destination, destination.path, options);
  } catch (error) {
    throw failed('upload to', uri, error, options.signal);
  } finally {
    destination.store.close();
  }
}

/** The error a transfer of `uri` ends with: the URI (masked) and the cause, or the abort as it came. */
function failed(what: string, uri: string, error: unknown, signal?: AbortSignal): unknown {
  return signal?.aborted ? error : new Error(`${what} ${maskUri(uri)} failed: ${describeError(error)}`, { cause: error });
}

/** A parse result's value; its error, thrown. */
export function check<T>(result: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!result.ok) throw new Error(result.error);
  return result.value;
}

