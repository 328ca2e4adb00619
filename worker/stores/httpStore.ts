// http:// and https:// — files only: a HEAD for the facts (size, ETag, Last-Modified), a GET
// for the content. HTTP has no listing and takes no uploads here.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { noAnswerReason } from '../../shared/client.js';
import { HttpStatusError } from '../retry.js';
import { Unsupported, type RemoteFile, type Stat, type Store } from './types.js';
import { HTTP_NAMES_FILES, noUploads } from '../../shared/uri.js';

export class HttpStore implements Store {
  readonly writable = false;
  constructor(private readonly origin: string) {}

  async stat(path: string, signal?: AbortSignal): Promise<Stat> {
    if (path.endsWith('/')) throw new Unsupported(HTTP_NAMES_FILES);
    const response = await request(this.origin + path, { method: 'HEAD', signal });
    if (response.status === 404 || response.status === 410) throw new HttpStatusError(`HTTP ${response.status} ${response.statusText}`.trim(), response.status);
    // Some servers refuse HEAD (a presigned GET URL, say); the GET will tell whether the file is there.
    if (!response.ok) return { kind: 'file', file: { path, size: -1 } };
    const length = response.headers.get('content-length');
    const modified = response.headers.get('last-modified');
    return {
      kind: 'file',
      file: {
        path,
        size: length === null ? -1 : Number(length),
        etag: response.headers.get('etag') ?? undefined,
        modified: modified ? new Date(modified) : undefined,
      },
    };
  }

  list(): Promise<RemoteFile[]> {
    throw new Unsupported(`http(s) has no folder listing: ${HTTP_NAMES_FILES}`);
  }

  async read(path: string, signal?: AbortSignal): Promise<Readable> {
    const response = await request(this.origin + path, { signal });
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new HttpStatusError(`HTTP ${response.status} ${response.statusText}`.trim(), response.status);
    }
    return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  }

  write(): Promise<void> {
    throw new Unsupported(noUploads('http(s)'));
  }

  remove(): Promise<void> {
    throw new Unsupported('http(s):// does not take removals');
  }

  close(): void {}
}

/** fetch, failing with why no answer came (refused, no such host, a certificate) where fetch says only `fetch failed`. */
async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw error;
    // The cause stays below, where the retries look for a dropped connection's code.
    throw new Error(noAnswerReason(error), { cause: error });
  }
}
