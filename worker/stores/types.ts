// What every scheme offers the transfer engine (../copy.ts): facts about files, a listing of a
// folder, a stream to read, a stream to write, a removal. Paths are the store's own: an S3 key
// (no leading slash), an absolute path for file and ftp, the URL's path for http. A store is
// bound to one bucket or host, and may hold connections until it is closed.
import type { Readable } from 'node:stream';

export interface RemoteFile {
  /** For a listing, the path relative to the listed folder ('/'-separated); for a stat, the path given. */
  path: string;
  size: number;
  /** The store's checksum or version tag, when it has one (S3's ETag, HTTP's ETag). */
  etag?: string;
  modified?: Date;
}

/** A file with its facts, a folder, or nothing at that path. */
export type Stat = { kind: 'file'; file: RemoteFile } | { kind: 'folder' } | undefined;

export interface Store {
  stat(path: string, signal?: AbortSignal): Promise<Stat>;
  /** Every file under the folder `path`, recursively, sorted by path; empty when there is no such folder. */
  list(path: string, signal?: AbortSignal): Promise<RemoteFile[]>;
  /** The content, checked against the store's checksum where it keeps one (an error at its end otherwise). */
  read(path: string, signal?: AbortSignal): Promise<Readable>;
  /** Writes `body` (of `size` bytes) at `path`, creating the folders above it; never leaves a partial file under the name. */
  write(path: string, body: Readable, size: number, signal?: AbortSignal): Promise<void>;
  /** Removes a file; removing what is not there is not an error. */
  remove(path: string, signal?: AbortSignal): Promise<void>;
  close(): void;
}

/** What a store refuses to do (an http store takes no uploads, has no listing). */
export class Unsupported extends Error {}
