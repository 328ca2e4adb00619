// The store for a URI's scheme and bucket or host.
import type { ParsedUri } from '../../shared/uri.js';
import { FileStore } from './fileStore.js';
import { FtpStore } from './ftpStore.js';
import { HttpStore } from './httpStore.js';
import { S3Store } from './s3Store.js';
import type { Store } from './types.js';

export function openStore(uri: ParsedUri): Store {
  switch (uri.scheme) {
    case 'file':
      return new FileStore();
    case 'http':
    case 'https':
      return new HttpStore(uri.url.origin);
    case 's3':
      return new S3Store(uri.host);
    case 'ftp':
    case 'ftps':
      return new FtpStore(uri);
  }
}
