// The transfer engine: copies what one URI names to a folder of another, over any pair of
// stores (./stores), for task inputs, resources and outputs as for `labq fetch`.
//
// - What a source delivers follows rsync: a path ending in `/` delivers the folder's content,
//   one without delivers the file or the folder itself under its name.
// - Files go in parallel, up to a bound per copy (`parallel`) and, when given, a bound shared
//   by every copy of the process (`limit`: the worker's `--transfers`), each streamed from the
//   source store into the destination store; the bytes are counted as they pass, checked against the size the source
//   announced (and the store's checksum, which its reader checks), and reported to a progress.
// - A file whose connection drops is tried again (./retry.ts), and the bytes it had counted
//   are taken back from the progress; the first lasting failure stops the others.
// - Removals (`labq fetch rm -r`, `sync --delete`) go the same way: in parallel, retried.
import { pipeline, Transform } from 'node:stream';
import { localName, type ParsedUri } from '../shared/uri.js';
import type { TransferProgress } from './progress.js';
import { withRetries } from './retry.js';
import type { Slots } from './slots.js';
import { openStore } from './stores/index.js';
import type { RemoteFile, Store } from './stores/types.js';

export interface CopyOptions {
  signal?: AbortSignal;
  progress?: TransferProgress;
  /** Files of this copy in flight at once; 4 unless given. */
  parallel?: number;
  /** A bound on files in flight shared with other copies; each file holds one of its slots. */
  limit?: Slots;
  /** Leaves a file out when it returns true (what `sync` finds already there). */
  skip?: (file: RemoteFile, target: string) => Promise<boolean>;
  /** Told of each file once it is whole at `target`, with the bytes that went. */
  copied?: (item: SourceFile, target: string, bytes: number) => void;
}

/** A file to copy: its facts at the source, and its path relative to the destination folder. */
export interface SourceFile {
  file: RemoteFile;
  from: string;
  to: string;
}

/** A URI opened on its store, with the path in the store's terms. */
export interface Location {
  uri: ParsedUri;
  store: Store;
  path: string;
}

export const DEFAULT_PARALLEL = 4;

export async function locate(uri: ParsedUri): Promise<Location> {
  // An http path keeps its query string and its encoding: it is sent back as it came.
  const path = uri.scheme === 'http' || uri.scheme === 'https' ? uri.url.pathname + uri.url.search : uri.path;
  return { uri, store: await openStore(uri), path };
}

/**
 * The files `source` delivers, each with its path relative to a destination folder: the
 * content of a folder for a path ending in `/`, else the file or the folder under its name.
 * An empty folder delivers nothing; a path that names nothing is an error.
 */
export async function sourceFiles(source: Location, signal?: AbortSignal): Promise<SourceFile[]> {
  const { store, path } = source;
  const content = path === '' || path.endsWith('/');
  const found = content ? { kind: 'folder' as const } : await store.stat(path, signal);
  if (!found) throw new Error(nothingAt(source));
  const name = localName(source.uri.path);
  if (found.kind === 'file') return [{ file: found.file, from: path, to: name }];
  const listed = await store.list(path, signal);
  if (content && listed.length === 0 && !(await store.stat(path, signal))) throw new Error(nothingAt(source));
  return listed.map((file) => {
    const to = content ? file.path : `${name}/${file.path}`;
    if (climbs(file.path)) throw new Error(`${file.path} climbs out of its folder`);
    return { file, from: under(path, file.path), to };
  });
}

/** Copies `files` into the destination folder `into`; returns how many went (skipped ones not counted). */
export async function copyFiles(files: SourceFile[], source: Location, destination: Location, into: string, options: CopyOptions = {}): Promise<number> {
  const { progress } = options;
  let copied = 0;
  progress?.expect(files.reduce((sum, { file }) => sum + Math.max(file.size, 0), 0));
  await inLanes(files, options, async (next, signal) => {
    const target = under(into, next.to);
    if (options.skip && (await options.skip(next.file, target))) {
      progress?.add(Math.max(next.file.size, 0));
      return;
    }
    await options.limit?.acquire(signal);
    let bytes: number;
    try {
      bytes = await copyOne(next, source.store, destination.store, target, signal, progress);
    } finally {
      options.limit?.release();
    }
    copied++;
    options.copied?.(next, target, bytes);
  });
  return copied;
}

/** Removes the files at `paths` of a store, in parallel as copies go; `removed` is told of each. */
export async function removeFiles(store: Store, paths: string[], options: { signal?: AbortSignal; parallel?: number; removed?: (path: string) => void } = {}): Promise<void> {
  await inLanes(paths, options, async (path, signal) => {
    await withRetries(() => store.remove(path, signal), signal);
    options.removed?.(path);
  });
}

/**
 * Works through `items` in up to `parallel` lanes; the first lasting failure stops the
 * others (their signal aborts) and is the one thrown.
 */
async function inLanes<T>(items: T[], options: { signal?: AbortSignal; parallel?: number }, work: (item: T, signal: AbortSignal) => Promise<void>): Promise<void> {
  const { signal } = options;
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const queue = [...items];
  const lane = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      stop.signal.throwIfAborted();
      await work(next, stop.signal);
    }
  };
  try {
    const lanes = Array.from({ length: Math.max(1, Math.min(options.parallel ?? DEFAULT_PARALLEL, items.length)) }, () =>
      lane().catch((error: unknown) => {
        if (!stop.signal.aborted) stop.abort(error);
        throw error;
      }));
    const results = await Promise.allSettled(lanes);
    // The first failure is the cause; the others are the aborts it caused.
    if (stop.signal.aborted) throw signal?.aborted ? signal.reason : stop.signal.reason;
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Copies one file, trying again when its connection drops; returns the bytes that went. */
async function copyOne(item: SourceFile, from: Store, to: Store, target: string, signal: AbortSignal, progress?: TransferProgress): Promise<number> {
  return withRetries(async () => {
    let counted = 0;
    try {
      const body = await from.read(item.from, signal);
      const checked = pipeline(body, measure(item.file.size, (bytes) => {
        counted += bytes;
        progress?.add(bytes);
      }), () => undefined);
      await to.write(target, checked, item.file.size, signal);
      return counted;
    } catch (error) {
      progress?.add(-counted);
      throw error;
    }
  }, signal);
}

/** Counts the bytes that pass; fails at the end when they are not the `expected` many (when known). */
export function measure(expected: number, onBytes: (bytes: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      onBytes(chunk.length);
      done(null, chunk);
    },
    flush(done) {
      if (expected < 0 || total === expected) return done();
      done(Object.assign(new Error(`size mismatch: ${total} bytes came of the ${expected} announced`), { code: 'LABQ_SIZE_MISMATCH' }));
    },
  });
}

/** `rel` under the folder `dir`, for any store's paths. */
export function under(dir: string, rel: string): string {
  return dir === '' || dir.endsWith('/') ? dir + rel : `${dir}/${rel}`;
}

/** What a location that names nothing is told: the engine's own message. */
export function nothingAt({ uri, path }: Location): string {
  if (uri.scheme === 's3') {
    return path === '' || path.endsWith('/')
      ? `no folder ${path || '/'} in bucket ${uri.host}`
      : `no object ${path} and no folder ${path}/ in bucket ${uri.host}`;
  }
  return `no such file or folder: ${path}`;
}

/** An error's message, with the code or name the SDKs put beside a terse one. */
export function describeError(error: unknown): string {
  const e = error as { name?: string; code?: string | number; message?: string };
  const message = e.message || String(error);
  const label = e.code ?? (e.name && e.name !== 'Error' ? e.name : undefined);
  return label !== undefined && !message.includes(String(label)) ? `${label}: ${message}` : message;
}

function climbs(rel: string): boolean {
  return rel.startsWith('/') || rel.split('/').some((part) => part === '..');
}
