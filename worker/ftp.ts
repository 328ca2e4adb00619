// ftp:// transfers with basic-ftp, in passive mode (the only one it speaks, and the one that
// crosses firewalls and NAT). Credentials come from the worker's ~/.netrc, anonymous otherwise.
// Each transfer opens its own connection, closed when done or when the signal aborts.
import { join } from 'node:path';
import { Client } from 'basic-ftp';
import type { ParsedUri } from '../shared/uri.js';
import { netrcFor } from './netrc.js';
import { withRetries } from './retry.js';

/**
 * `ftp://h/dir/` delivers the content of `dir` into `destDir`; `ftp://h/name` the file `name`,
 * or the folder `name` as `destDir/<name>`.
 */
export async function downloadFtp(parsed: ParsedUri, destDir: string, localName: string, signal?: AbortSignal): Promise<string> {
  return withRetries(() => session(parsed, signal, async (ftp) => {
    if (parsed.path.endsWith('/')) {
      await ftp.downloadToDir(destDir, parsed.path);
      return destDir;
    }
    const target = join(destDir, localName);
    if (await isFolder(ftp, parsed.path)) await ftp.downloadToDir(target, parsed.path);
    else await ftp.downloadTo(target, parsed.path);
    return target;
  }), signal);
}

/** Uploads the content of `sourceDir` into the URI's folder (created); returns how many files went. */
export async function uploadFtp(sourceDir: string, files: string[], parsed: ParsedUri, signal?: AbortSignal): Promise<number> {
  await withRetries(() => session(parsed, signal, (ftp) => ftp.uploadFromDir(sourceDir, parsed.path)), signal);
  return files.length;
}

async function session<T>(parsed: ParsedUri, signal: AbortSignal | undefined, work: (ftp: Client) => Promise<T>): Promise<T> {
  signal?.throwIfAborted();
  const ftp = new Client(30_000);
  const onAbort = () => ftp.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const credentials = await netrcFor(parsed.url.hostname);
    await ftp.access({
      host: parsed.url.hostname,
      port: parsed.url.port ? Number(parsed.url.port) : 21,
      user: credentials?.login ?? 'anonymous',
      password: credentials?.password ?? 'anonymous@',
    });
    return await work(ftp);
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    ftp.close();
  }
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

