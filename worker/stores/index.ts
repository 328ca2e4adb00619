// The store for a URI's scheme and bucket or host. The S3 and FTP clients are loaded on
// their first use: a worker that runs bare tasks never pays their 25–40 MiB, and every
// process it forks is cheaper for it (a fork costs in proportion to the parent's memory).
import type { ParsedUri } from '../../shared/uri.js';
import { FileStore } from './fileStore.js';
import { HttpStore } from './httpStore.js';
import type { Store } from './types.js';

export async function openStore(uri: ParsedUri): Promise<Store> {
  switch (uri.scheme) {
    case 'file':
      return new FileStore();
    case 'http':
    case 'https':
      return new HttpStore(uri.url.origin);
    case 's3':
      return new (await import('./s3Store.js')).S3Store(uri.host);
    case 'ftp':
    case 'ftps':
      return new (await import('./ftpStore.js')).FtpStore(uri);
  }
}
