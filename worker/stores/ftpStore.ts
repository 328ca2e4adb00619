// ftp:// and ftps:// with basic-ftp, in passive mode (the only one it speaks, and the one that
// crosses firewalls and NAT). ftps:// is FTP over TLS: explicit (AUTH TLS) on the given port,
// 21 by default, implicit on port 990; the server's certificate is checked against Node's CAs
// (add one with NODE_EXTRA_CA_CERTS). Credentials come from the worker's ~/.netrc, anonymous
// otherwise.
//
// One FTP connection carries one transfer at a time, so the store keeps a small pool: a
// connection is opened when needed, reused when idle, and closed on any error (it may be the
// one that dropped) or when the signal of the operation using it aborts. A read's connection
// comes back only once the server has confirmed the transfer, which can be after its reader
// has seen the last byte and the store was closed: it is closed then rather than kept.
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { Client, FileType } from 'basic-ftp';
import type { ParsedUri } from '../../shared/uri.js';
import { netrcFor } from '../netrc.js';
import type { RemoteFile, Stat, Store } from './types.js';

const TIMEOUT_MS = 30_000;

export class FtpStore implements Store {
  private readonly idle: Client[] = [];
  private closed = false;

  constructor(private readonly uri: ParsedUri) {}

  async stat(path: string, signal?: AbortSignal): Promise<Stat> {
    return this.using(signal, async (ftp) => {
      // Folder first: some servers answer SIZE for a folder too.
      if (await isFolder(ftp, path)) return { kind: 'folder' };
      if (path.endsWith('/')) return undefined;
      const size = await ftp.size(path).catch(missing);
      if (size === undefined) return undefined;
      const modified = await ftp.lastMod(path).catch(() => undefined);
      return { kind: 'file', file: { path, size, modified } };
    });
  }

  async list(path: string, signal?: AbortSignal): Promise<RemoteFile[]> {
    return this.using(signal, async (ftp) => {
      if (!(await isFolder(ftp, path))) return [];
      const files: RemoteFile[] = [];
      const walk = async (relative: string): Promise<void> => {
        for (const entry of await ftp.list(posix.join(path, relative))) {
          const child = relative ? `${relative}/${entry.name}` : entry.name;
          if (entry.type === FileType.Directory) await walk(child);
          else if (entry.type === FileType.File) files.push({ path: child, size: entry.size, modified: entry.modifiedAt });
        }
      };
      await walk('');
      return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    });
  }

  async read(path: string, signal?: AbortSignal): Promise<Readable> {
    const ftp = await this.take(signal);
    const body = new PassThrough();
    const onAbort = () => ftp.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    ftp.downloadTo(body, path).then(
      () => this.give(ftp),
      (error: Error) => {
        ftp.close();
        body.destroy(error);
      },
    ).finally(() => signal?.removeEventListener('abort', onAbort));
    return body;
  }

  async write(path: string, body: Readable, _size: number, signal?: AbortSignal): Promise<void> {
    await this.using(signal, async (ftp) => {
      await ftp.ensureDir(posix.dirname(path));
      // A partial file never takes the real name, so a failed upload is never mistaken for a done one.
      const partial = `${path}.part`;
      await ftp.uploadFrom(body, partial);
      await ftp.rename(partial, path);
    });
  }

  async remove(path: string, signal?: AbortSignal): Promise<void> {
    await this.using(signal, (ftp) => ftp.remove(path, true));
  }

  close(): void {
    this.closed = true;
    for (const ftp of this.idle.splice(0)) ftp.close();
  }

  private async using<T>(signal: AbortSignal | undefined, work: (ftp: Client) => Promise<T>): Promise<T> {
    const ftp = await this.take(signal);
    const result = await guarded(ftp, signal, () => work(ftp));
    this.give(ftp);
    return result;
  }

  /** An idle connection, or a new one; connecting gives up when `signal` aborts. */
  private async take(signal?: AbortSignal): Promise<Client> {
    signal?.throwIfAborted();
    const found = this.idle.pop();
    if (found && !found.closed) return found;
    const { url } = this.uri;
    const ftp = new Client(TIMEOUT_MS);
    const secure = this.uri.scheme === 'ftps';
    const port = url.port ? Number(url.port) : 21;
    const credentials = await netrcFor(url.hostname);
    await guarded(ftp, signal, () => ftp.access({
      host: url.hostname,
      port,
      user: credentials?.login ?? 'anonymous',
      password: credentials?.password ?? 'anonymous@',
      secure: secure ? (port === 990 ? 'implicit' : true) : false,
    }));
    return ftp;
  }

  private give(ftp: Client): void {
    if (this.closed) ftp.close();
    else if (!ftp.closed) this.idle.push(ftp);
  }
}

/**
 * Runs `work` on `ftp`, closing the connection when `signal` aborts (which ends what it was
 * doing) or when `work` fails (it may be the connection that dropped); an abort is thrown as such.
 */
async function guarded<T>(ftp: Client, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  const onAbort = () => ftp.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await work();
  } catch (error) {
    ftp.close();
    signal?.throwIfAborted();
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A 550 (no such file, or not a plain file) means nothing is there; anything else is a failure. */
function missing(error: { code?: unknown }): undefined {
  if (error.code === 550) return undefined;
  throw error;
}

/** Whether the remote path is a folder: one can change into it. */
async function isFolder(ftp: Client, path: string): Promise<boolean> {
  const home = await ftp.pwd();
  try {
    await ftp.cd(path);
  } catch {
    return false;
  }
  await ftp.cd(home);
  return true;
}
