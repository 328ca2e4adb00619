// The steps a resource names after `|` (shared/uri.ts): `gunzip`, `untar`, `unzip` and
// `mv:DIR`, applied once when the worker builds a cache entry (./transfers.ts). They run in
// the worker's process with well-kept libraries (node:zlib, node-tar, yauzl) rather than
// the host's tools, so a worker needs no tar or unzip, and every archive meets the same rules:
//
// - streamed: a file is read in chunks and written as it is decoded, never whole in memory;
// - nothing lands outside the output folder: an entry with an absolute path or `..`, a link
//   that points outside, or an entry written through a link fails the step, rather than
//   leave a resource silently incomplete;
// - owners are not kept, nor setuid, setgid and sticky bits; device files and FIFOs are
//   skipped; modification times are kept (tools compare an index's date with its data's);
// - an error names the step, the file and what went wrong.
//
// node-tar's synchronous unpacker is fed chunk by chunk from an asynchronous read: each
// chunk is written before the next one is read, so once the step has failed or been
// aborted nothing still writes into the folder its caller is about to delete.

import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, stat, symlink, utimes } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, crc32 } from 'node:zlib';
import { UnpackSync, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import type { ResourceStep } from '../shared/uri.js';

/**
 * Applies `step` to `input` (the current result: a file, or for `mv` also a folder whose
 * content is the result), writing into the empty folder `outDir`; returns the result's path.
 */
export async function applyStep(step: ResourceStep, input: string, outDir: string, signal?: AbortSignal): Promise<string> {
  if (step.kind !== 'mv' && !(await stat(input)).isFile()) {
    throw new Error(`the ${step.kind} step needs a file, but was given a folder`);
  }
  try {
    switch (step.kind) {
      case 'gunzip':
        return await gunzip(input, outDir, signal);
      case 'untar':
        await untar(input, outDir, signal);
        return outDir;
      case 'unzip':
        await unzip(input, outDir, signal);
        return outDir;
      case 'mv':
        return await move(input, join(outDir, step.dir));
    }
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new Error(`the ${step.kind} step failed on ${basename(input)}: ${reason(error)}`, { cause: error });
  }
}

async function gunzip(input: string, outDir: string, signal?: AbortSignal): Promise<string> {
  const output = join(outDir, basename(input).replace(/\.tgz$/i, '.tar').replace(/\.(gz|gzip)$/i, '') || 'data');
  await pipeline(createReadStream(input), createGunzip(), createWriteStream(output), { signal });
  return output;
}

/** Extracts a tar archive, gzip-compressed or not (told from its first bytes, as `tar -xf` does). */
async function untar(input: string, outDir: string, signal?: AbortSignal): Promise<void> {
  let failure: unknown;
  let entries = 0;
  const unpack: UnpackSync = new UnpackSync({
    cwd: outDir,
    // Every warning is an error: a damaged entry or a failed write fails the step.
    strict: true,
    preserveOwner: false,
    filter: (path, entry) => {
      entries++;
      const { type, linkpath, mode } = entry as ReadEntry;
      if (type === 'CharacterDevice' || type === 'BlockDevice' || type === 'FIFO') return false;
      const problem = entryProblem(path, type === 'SymbolicLink' || type === 'Link' ? { target: linkpath ?? '', hard: type === 'Link' } : undefined);
      if (problem) {
        unpack.abort(new Error(problem));
        return false;
      }
      if (mode !== undefined) (entry as ReadEntry).mode = mode & 0o777;
      return true;
    },
  });
  unpack.on('error', (error: unknown) => {
    failure ??= error;
  });
  try {
    for await (const chunk of createReadStream(input, { signal })) {
      unpack.write(chunk as Buffer);
      if (failure) break;
    }
  } finally {
    // After a failure no file is open. Otherwise this ends the archive, or the entry an abort
    // cut short, closing its file (the truncation that reports is then ignored).
    if (!failure) unpack.end();
  }
  if (failure) {
    // What is not a tar archive fails the checksum of its first header.
    const code = (failure as { tarCode?: string }).tarCode;
    if (entries === 0 && code === 'TAR_ENTRY_INVALID') throw new Error(`not a tar archive (${reason(failure)})`, { cause: failure });
    throw failure;
  }
}

async function unzip(input: string, outDir: string, signal?: AbortSignal): Promise<void> {
  const zip = await yauzl.openPromise(input).catch((error: unknown) => {
    throw new Error(`not a zip archive (${reason(error)})`, { cause: error });
  });
  // Links made so far, by normalized path: no later entry may be written through one.
  const links = new Set<string>();
  try {
    for await (const entry of zip.eachEntry()) {
      signal?.throwIfAborted();
      await unzipEntry(zip, entry, outDir, links, signal);
    }
  } finally {
    zip.close();
  }
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

async function unzipEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, outDir: string, links: Set<string>, signal?: AbortSignal): Promise<void> {
  // yauzl has already refused absolute names and `..`.
  const path = posix.normalize(entry.fileName).replace(/\/+$/, '');
  if (path === '.') return;
  const through = ancestors(path).find((a) => links.has(a));
  if (through !== undefined) throw new Error(`entry ${path} would be written through the link ${through}`);
  // Unix and macOS zips keep the file's type and mode in the high half of the attributes.
  const host = entry.versionMadeBy >>> 8;
  const unixMode = host === 3 || host === 19 ? entry.externalFileAttributes >>> 16 : 0;
  const target = join(outDir, path);
  if (entry.fileName.endsWith('/') || (unixMode & S_IFMT) === S_IFDIR) {
    // Owner rwx whatever the archive says, or nothing could be written into it, nor the cache entry deleted.
    await mkdir(target, { recursive: true, mode: unixMode ? (unixMode & 0o777) | 0o700 : 0o755 });
    return;
  }
  if (entry.isEncrypted()) throw new Error(`entry ${path} is encrypted, which is not supported`);
  if (!entry.canDecodeFileData()) {
    throw new Error(`entry ${path} uses compression method ${entry.compressionMethod}; only stored and deflated entries are supported`);
  }
  await mkdir(dirname(target), { recursive: true });
  const data = await zip.openReadStreamPromise(entry);
  if ((unixMode & S_IFMT) === S_IFLNK) {
    const linkTarget = await readLinkTarget(data, path);
    const problem = entryProblem(path, { target: linkTarget, hard: false });
    if (problem) throw new Error(problem);
    await symlink(linkTarget, target);
    links.add(path);
    return;
  }
  // `wx`: never write through whatever already has the name (a link, a repeated entry).
  await pipeline(data, checkCrc(entry, path), createWriteStream(target, { flags: 'wx', mode: unixMode ? unixMode & 0o777 : 0o644 }), { signal });
  const modified = entry.getLastModDate();
  await utimes(target, modified, modified);
}

/** A link's target is its data: a short path, read whole. */
async function readLinkTarget(data: Readable, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of data) {
    size += (chunk as Buffer).length;
    if (size > 4096) {
      data.destroy();
      throw new Error(`link ${path} has a target longer than 4096 bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Passes an entry's data through, failing at its end when the CRC-32 differs (yauzl checks only sizes). */
function checkCrc(entry: yauzl.Entry, path: string): Transform {
  let crc = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      crc = crc32(chunk, crc);
      done(null, chunk);
    },
    flush(done) {
      done(crc === entry.crc32 ? null : new Error(`entry ${path} is corrupt: its CRC-32 does not match its data`));
    },
  });
}

/** Moves the result into `folder`: a file under its name, a folder's content as it is. */
async function move(input: string, folder: string): Promise<string> {
  await mkdir(folder, { recursive: true });
  if ((await lstat(input)).isDirectory()) {
    for (const name of await readdir(input)) await rename(join(input, name), join(folder, name));
    return folder;
  }
  const target = join(folder, basename(input));
  await rename(input, target);
  return target;
}

/**
 * Why an archive entry may not be written into the folder, or undefined when it may. A
 * symbolic link's target is relative to the link's folder, a hard link's to the archive's root.
 */
function entryProblem(path: string, link?: { target: string; hard: boolean }): string | undefined {
  if (path.startsWith('/')) return `entry ${path} has an absolute path, outside the folder it is extracted into`;
  if (path.split('/').includes('..')) return `entry ${path} climbs out of the folder it is extracted into with ..`;
  if (!link) return undefined;
  const resolved = posix.normalize(link.hard ? link.target : posix.join(posix.dirname(path), link.target));
  if (link.target.startsWith('/') || resolved === '..' || resolved.startsWith('../')) {
    return `${link.hard ? 'hard link' : 'link'} ${path} -> ${link.target} points outside the folder it is extracted into`;
  }
  return undefined;
}

/** `a/b/c` -> `a`, `a/b`. */
function ancestors(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** An error's message, with what zlib and node-tar codes mean said plainly. */
function reason(error: unknown): string {
  const e = error as { code?: string; tarCode?: string; message?: string };
  const message = e.message || String(error);
  if (e.code === 'Z_DATA_ERROR') return `${/header check/.test(message) ? 'not gzip data, or corrupt' : 'corrupt compressed data'} (${message})`;
  if (e.code === 'Z_BUF_ERROR') return `truncated gzip data (${message})`;
  if (e.tarCode === 'TAR_BAD_ARCHIVE' && /unrecognized archive format/i.test(message)) return `not a tar archive (${message})`;
  return message;
}
