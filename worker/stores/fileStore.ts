// file:// — a path the worker sees (local disk or NFS). Writes go to a partial file beside the
// target (`NAME.<random>.part`: two writers of one path never share one) and are renamed when
// complete, so a file under its real name is always whole, and the last complete write wins. Symbolic links are
// followed: a link in a folder delivers what it points to.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RemoteFile, Stat, Store } from './types.js';

export class FileStore implements Store {
  async stat(path: string): Promise<Stat> {
    const info = await stat(path).catch(notFound);
    if (!info) return undefined;
    if (info.isDirectory()) return { kind: 'folder' };
    return { kind: 'file', file: { path, size: info.size, modified: info.mtime } };
  }

  async list(path: string): Promise<RemoteFile[]> {
    const entries = await readdir(path, { withFileTypes: true, recursive: true }).catch(notFound);
    const files: RemoteFile[] = [];
    for (const entry of entries ?? []) {
      if (!entry.isFile() && !entry.isSymbolicLink()) continue;
      const full = join(entry.parentPath, entry.name);
      const info = await stat(full).catch(notFound);
      if (!info?.isFile()) continue;
      files.push({ path: relative(path, full).split(sep).join('/'), size: info.size, modified: info.mtime });
    }
    return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async read(path: string): Promise<Readable> {
    const stream = createReadStream(path);
    // Open errors (a missing file) surface here rather than mid-pipeline.
    await new Promise<void>((resolve, reject) => stream.once('open', () => resolve()).once('error', reject));
    return stream;
  }

  async write(path: string, body: Readable, _size: number, signal?: AbortSignal): Promise<void> {
    await makeFolder(dirname(path));
    const partial = `${path}.${randomBytes(4).toString('hex')}.part`;
    try {
      await pipeline(body, createWriteStream(partial), { signal });
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  close(): void {}
}

/**
 * `mkdir -p` without Node's recursive mkdir, which never returns where a folder's parent
 * exists but takes no new entry (/proc: mkdir says ENOENT there, and Node 20 makes the parent
 * again and retries for ever, in a thread that no abort reaches and that the worker's other
 * file work then lacks).
 */
async function makeFolder(path: string): Promise<void> {
  const made = await mkdir(path).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' && dirname(path) !== path) return false;
    return existingFolder(path, error);
  });
  if (made) return;
  await makeFolder(dirname(path));
  await mkdir(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new Error(`cannot make the folder ${path}: ${dirname(path)} takes no new folder (a pseudo file system such as /proc?)`, { cause: error });
    return existingFolder(path, error);
  });
}

/** A folder already there (made meanwhile by another file's upload) is what was wanted; anything else is the error. */
async function existingFolder(path: string, error: NodeJS.ErrnoException): Promise<true> {
  if (error.code === 'EEXIST' && (await stat(path)).isDirectory()) return true;
  throw error;
}

function notFound(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
  throw error;
}
