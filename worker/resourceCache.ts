// The worker's resource cache: each resource spec (a URI with its steps) is fetched and its
// steps applied once, and the result is shared read-only by every execution that uses it,
// until the remote changes or the cache needs the room.
//
// - An entry is `<dir>/<sha256 of the spec>-<fingerprint hash>/` beside `<same>.json` (the
//   spec, the fingerprint, the size, when built). The fingerprint is what the remote delivered:
//   each file's path, size, ETag and date from the one stat or listing that the download then
//   used. An entry is built in dot-named scratch and renamed into place after its .json, so an
//   entry directory that exists is complete; what a crash leaves (scratch, a .json without its
//   directory, a directory without its .json) is removed at open; older builds of a spec go
//   at tidy, unless a container left running by an earlier run of the worker uses them
//   (adopt, with the entries its saved state names).
// - Freshness: a prepare looks at the remote again (one stat or listing) when the spec's entry
//   was last checked more than `checkSeconds` ago, and builds a new entry, under a new name,
//   when the fingerprint differs. The old entry stays until the new one is built and no
//   execution uses it. A remote that cannot be reached while an entry exists does not fail the
//   task: the entry is used, with a warning in the log.
// - Users: prepare returns a handle that the execution releases when it ends; an entry with
//   handles out, or callers waiting for its build, is never removed.
// - Eviction: past `maxBytes`, after a build and when a release leaves an entry unused, unused
//   entries go, least recently used first. Recency is the .json's mtime, touched at each use;
//   sizes are counted once, at build, and kept in the .json.
// - One daemon holds a state directory (./identity.ts), so one process owns a cache. Concurrent
//   calls share one check and one build per entry; a caller whose shared check or build was
//   aborted by the signal of the caller that started it starts it again rather than failing.
import { createHash, randomUUID } from 'node:crypto';
import { renameSync, rmSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { maskUri, parseResource } from '../shared/uri.js';
import type { CopyOptions, SourceFile } from './copy.js';
import { deadline } from './deadline.js';
import { check, download, listSource } from './transfers.js';
import { applyStep } from './unpack.js';

export interface ResourceCacheOptions {
  dir: string;
  /** The bound on the entries' total size, in bytes; none when absent. */
  maxBytes?: number;
  /** How long one look at a resource's remote holds, in seconds: DEFAULT_CHECK_SECONDS unless given, 0 for every use. */
  checkSeconds?: number;
  log(line: string): void;
}

/** An entry, held for one execution until it is released. */
export interface ResourceHandle {
  /** The directory to mount read-only. */
  dir: string;
  /** The execution is done with it; a second call does nothing. */
  release(): void;
}

export const DEFAULT_CHECK_SECONDS = 30;
/** How long a look at the remote may take when a cached entry can stand in for it. */
const CHECK_TIMEOUT_MS = 20_000;

interface Entry {
  key: string;
  bytes: number;
}

/**
 * A spec's entry as of its last check. While it is not built: the listing to build it from,
 * and the entry it replaces, which stands in for it if the remote cannot be reached then.
 */
interface Latest {
  name: string;
  checkedAt: number;
  files?: SourceFile[];
  previous?: string;
}

/** One file the remote delivered, as the fingerprint keeps it. */
interface Fact {
  path: string;
  size: number;
  etag: string | null;
  modified: string | null;
}

/** The .json beside an entry. */
interface Meta {
  spec: string;
  fingerprint: Fact[];
  bytes: number;
  built_at: string;
}

export class ResourceCache {
  /** By name, least recently used first. */
  private readonly entries = new Map<string, Entry>();
  /** By spec key. */
  private readonly latest = new Map<string, Latest>();
  /** Handles out and callers waiting for a build, by entry name. */
  private readonly users = new Map<string, number>();
  private readonly checks = new Shared<Latest>();
  private readonly builds = new Shared<void>();
  private readonly checkMs: number;

  constructor(private readonly options: ResourceCacheOptions) {
    this.checkMs = (options.checkSeconds ?? DEFAULT_CHECK_SECONDS) * 1000;
  }

  /**
   * Loads the entries on disk and removes what a crash left. Older builds of a spec stay until
   * tidy(): a container that an earlier run of the worker left running may use one (adopt).
   */
  async open(): Promise<void> {
    const { dir } = this.options;
    await mkdir(dir, { recursive: true });
    const names = new Set(await readdir(dir));
    const loaded: NonNullable<Awaited<ReturnType<typeof loadEntry>>>[] = [];
    for (const file of names) {
      const name = file.slice(0, -'.json'.length);
      if (file.startsWith('.') || !file.endsWith('.json') || !names.has(name)) continue;
      const found = await loadEntry(join(dir, file), name);
      if (found) loaded.push(found);
    }
    const kept = new Set<string>();
    const builtAt = new Map<string, number>();
    for (const { name, entry, built } of loaded.sort((a, b) => a.usedAt - b.usedAt)) {
      this.entries.set(name, entry);
      kept.add(name).add(`${name}.json`);
      if ((builtAt.get(entry.key) ?? -Infinity) >= built) continue;
      builtAt.set(entry.key, built);
      // Never checked by this process: the first use looks at the remote.
      this.latest.set(entry.key, { name, checkedAt: -Infinity });
    }
    await Promise.all([...names].filter((name) => !kept.has(name)).map((name) => rm(join(dir, name), { recursive: true, force: true })));
  }

  /** Holds the entries mounted at `dirs` (by a container an earlier run of the worker left running), as prepare would. */
  adopt(dirs: string[]): ResourceHandle[] {
    const names = dirs.map((dir) => relative(this.options.dir, dir)).filter((name) => this.entries.has(name));
    for (const name of names) this.hold(name);
    return names.map((name) => this.handle(name));
  }

  /** After open() and adopt(): removes the older builds no one holds, and evicts past the bound. */
  tidy(): void {
    for (const name of [...this.entries.keys()]) this.settle(name);
  }

  /** The spec's entry, fetched or refreshed when needed, held until the handle is released. */
  async prepare(spec: string, options: CopyOptions = {}): Promise<ResourceHandle> {
    const { signal } = options;
    const key = sha256(spec);
    for (;;) {
      signal?.throwIfAborted();
      const seen = this.latest.get(key);
      const target = seen && this.fresh(seen) ? seen : await this.checks.run(key, signal, () => this.check(spec, key, signal));
      if (this.entries.has(target.name)) {
        this.hold(target.name);
        return this.handle(target.name);
      }
      // Evicted since it was checked: look again.
      if (!target.files) continue;
      const files = target.files;
      this.hold(target.name);
      try {
        await this.builds.run(target.name, signal, () => this.build(spec, key, target.name, files, options));
      } catch (error) {
        this.unhold(target.name);
        throw error;
      }
      return this.handle(target.name);
    }
  }

  private fresh(latest: Latest): boolean {
    return Date.now() - latest.checkedAt < this.checkMs && (this.entries.has(latest.name) || latest.files !== undefined);
  }

  /** Looks at the remote: the entry that matches what it delivers now, built or to build. */
  private async check(spec: string, key: string, signal?: AbortSignal): Promise<Latest> {
    const { url } = check(parseResource(spec));
    const seen = this.latest.get(key);
    const cached = [seen?.name, seen?.previous].find((name) => name !== undefined && this.entries.has(name));
    const checkedAt = Date.now();
    let files: SourceFile[];
    try {
      const bound = cached ? deadline(CHECK_TIMEOUT_MS, signal ? [signal] : []) : undefined;
      try {
        files = await listSource(url.href, bound?.signal ?? signal);
      } finally {
        bound?.clear();
      }
    } catch (error) {
      if (!cached || signal?.aborted) throw error;
      this.options.log(`resource ${maskUri(url.href)}: cannot check it for changes (${(error as Error).message}); using the cached copy`);
      const kept = { name: cached, checkedAt };
      this.latest.set(key, kept);
      return kept;
    }
    const name = `${key}-${sha256(JSON.stringify(fingerprint(files))).slice(0, 16)}`;
    const built = this.entries.has(name);
    const latest: Latest = built ? { name, checkedAt } : { name, checkedAt, files, previous: cached };
    this.latest.set(key, latest);
    if (built && cached && cached !== name) this.settle(cached);
    return latest;
  }

  private async build(spec: string, key: string, name: string, files: SourceFile[], options: CopyOptions): Promise<void> {
    const { signal } = options;
    const { dir } = this.options;
    const { url, steps } = check(parseResource(spec));
    // Dot names: scratch, never mistaken for an entry; what a crash leaves behind is removed at open.
    const work = await mkdtemp(join(dir, '.work-'));
    const staging = await mkdtemp(join(dir, '.entry-'));
    try {
      // Without steps, the download folder is the entry: a file or folder under its name, or a folder's content.
      const fetched = join(work, 'download');
      let current = await download(url.href, fetched, { ...options, files });
      // A folder URI without its slash delivers the folder itself, which an action then takes whole (rsync's rule).
      if (current !== fetched && (await stat(current)).isDirectory()) current = fetched;
      for (const [i, step] of steps.entries()) {
        const out = i === steps.length - 1 ? staging : await mkdtemp(join(work, 'step-'));
        current = await applyStep(step, current, out, signal).catch((error: Error) => {
          throw signal?.aborted ? error : new Error(`resource ${maskUri(spec)}: ${error.message}`, { cause: error });
        });
      }
      const built = steps.length === 0 ? fetched : staging;
      const bytes = await sizeOf(built);
      const meta: Meta = { spec, fingerprint: fingerprint(files), bytes, built_at: new Date().toISOString() };
      await writeFile(join(work, 'entry.json'), JSON.stringify(meta));
      await rename(join(work, 'entry.json'), join(dir, `${name}.json`));
      await rename(built, join(dir, name));
      this.entries.set(name, { key, bytes });
      const latest = this.latest.get(key);
      if (latest?.name === name) {
        const { previous } = latest;
        delete latest.files;
        delete latest.previous;
        if (previous) this.settle(previous);
      }
      this.evict();
    } finally {
      await rm(work, { recursive: true, force: true });
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** A handle on an entry already held for its caller; the use counts for recency. */
  private handle(name: string): ResourceHandle {
    const { dir } = this.options;
    const entry = this.entries.get(name)!;
    this.entries.delete(name);
    this.entries.set(name, entry);
    const now = new Date();
    utimes(join(dir, `${name}.json`), now, now).catch(() => undefined);
    let released = false;
    return {
      dir: join(dir, name),
      release: () => {
        if (released) return;
        released = true;
        this.unhold(name);
      },
    };
  }

  private hold(name: string): void {
    this.users.set(name, (this.users.get(name) ?? 0) + 1);
  }

  private unhold(name: string): void {
    const left = (this.users.get(name) ?? 1) - 1;
    if (left > 0) return void this.users.set(name, left);
    this.users.delete(name);
    this.settle(name);
  }

  /** An entry no one uses: removed when a newer one replaced it, else the cache may need the room. */
  private settle(name: string): void {
    const entry = this.entries.get(name);
    if (!entry || this.users.has(name)) return;
    const latest = this.latest.get(entry.key);
    if (latest?.name !== name && latest?.previous !== name) this.remove(name);
    else this.evict();
  }

  /** Past the bound, removes unused entries, least recently used first, until under it (or none is left unused). */
  private evict(): void {
    const { maxBytes } = this.options;
    if (maxBytes === undefined) return;
    let total = 0;
    for (const entry of this.entries.values()) total += entry.bytes;
    for (const [name, entry] of [...this.entries]) {
      if (total <= maxBytes) return;
      if (this.users.has(name)) continue;
      total -= entry.bytes;
      this.remove(name);
    }
  }

  /**
   * Takes an entry out of the cache at once (a rebuild under the same name may follow at
   * any time), then deletes its files in the background.
   */
  private remove(name: string): void {
    const { dir, log } = this.options;
    this.entries.delete(name);
    const trash = join(dir, `.gone-${randomUUID()}`);
    try {
      rmSync(join(dir, `${name}.json`), { force: true });
      renameSync(join(dir, name), trash);
    } catch (error) {
      log(`cannot remove the cache entry ${name}: ${(error as Error).message}`);
      return;
    }
    rm(trash, { recursive: true, force: true }).catch((error) => log(`cannot remove ${trash}: ${(error as Error).message}`));
  }
}

/** Work by key, shared by the callers that need it at once, with the signal of the caller that started it. */
class Shared<T> {
  private readonly running = new Map<string, { promise: Promise<T>; signal?: AbortSignal }>();

  async run(key: string, signal: AbortSignal | undefined, start: () => Promise<T>): Promise<T> {
    for (;;) {
      signal?.throwIfAborted();
      let job = this.running.get(key);
      if (!job) {
        const promise = start().finally(() => this.running.delete(key));
        job = { promise, signal };
        this.running.set(key, job);
      }
      try {
        return await abortable(job.promise, signal);
      } catch (error) {
        if (signal?.aborted || !job.signal?.aborted) throw error;
      }
    }
  }
}

/** What the remote delivered, in a stable order: what tells whether it changed. */
function fingerprint(files: SourceFile[]): Fact[] {
  return files
    .map(({ to, file }) => ({ path: to, size: file.size, etag: file.etag ?? null, modified: file.modified?.toISOString() ?? null }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** An entry's record on disk, or null when its .json cannot be read (then it goes). */
async function loadEntry(file: string, name: string): Promise<{ name: string; built: number; usedAt: number; entry: Entry } | null> {
  try {
    const meta = JSON.parse(await readFile(file, 'utf8')) as Meta;
    const built = Date.parse(meta.built_at);
    if (!Number.isFinite(meta.bytes) || !Number.isFinite(built)) return null;
    return { name, built, usedAt: (await stat(file)).mtimeMs, entry: { key: name.slice(0, name.indexOf('-')), bytes: meta.bytes } };
  } catch {
    return null;
  }
}

async function sizeOf(dir: string): Promise<number> {
  let bytes = 0;
  for (const item of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (item.isFile()) bytes += (await lstat(join(item.parentPath, item.name))).size;
  }
  return bytes;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
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
