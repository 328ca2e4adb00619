// http:// and https:// — files only: a HEAD for the facts (size, ETag, Last-Modified), a GET
// for the content. HTTP has no listing and takes no uploads here.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { noAnswerReason } from '../../shared/client.js';
import { HttpStatusError } from '../retry.js';
import { Unsupported, type RemoteFile, type Stat, type Store } from './types.js';
import { HTTP_NAMES_FILES, noUploads } from '../../shared/uri.js';

export class HttpStore implements Store {
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

/**
 * The ports fetch refuses to connect to, whatever the server: the Fetch standard's "bad ports"
 * (https://fetch.spec.whatwg.org/#port-blocking), kept so that a browser cannot be made to
 * speak HTTP to another protocol's server. Node's fetch enforces the list and says only
 * `bad port`; it is copied here to say which port and why.
 */
const BLOCKED_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111,
  113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548,
  554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
  6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Why fetch refused before connecting: the port named, or a redirect's (whose port fetch does not tell). */
function badPortReason(url: string): string {
  const port = Number(new URL(url).port);
  const why = 'a port on the Fetch standard\'s list of blocked ports, to which Node\'s fetch never connects: serve the file on another port';
  return BLOCKED_PORTS.has(port) ? `port ${port} is ${why}` : `a redirect led to ${why}`;
}

/** fetch, failing with why no answer came (refused, no such host, a certificate, a blocked port) where fetch says only `fetch failed`. */
async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw error;
    if ((error as Error).cause instanceof Error && ((error as Error).cause as Error).message === 'bad port') throw new Error(badPortReason(url), { cause: error });
    // The cause stays below, where the retries look for a dropped connection's code.
    throw new Error(noAnswerReason(error), { cause: error });
  }
}
