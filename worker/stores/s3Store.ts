// s3:// with the AWS SDK: credentials from the standard chain (environment, shared files and
// profiles, SSO, instance and container roles), the endpoint from AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL (MinIO, Ceph, OVH...), path-style addressing whenever an endpoint is set
// (what those stores serve; LABQ_S3_FORCE_PATH_STYLE=0 or 1 overrides). Objects stream; uploads
// are multipart (lib-storage), so memory stays bounded whatever the size. A folder is a key
// prefix: zero-byte `dir/` marker objects are skipped.
import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable } from 'node:stream';
import {
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, paginateListObjectsV2, S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { RemoteFile, Stat, Store } from './types.js';

const clients = new Map<string, S3Client>();

/**
 * One client per configuration, kept for the process's life: it resolves credentials once and
 * reuses its connections. The environment is read at each transfer, so a change applies.
 */
function client(): S3Client {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
  const forced = process.env.LABQ_S3_FORCE_PATH_STYLE;
  // The JS SDK reads AWS_REGION but not AWS_DEFAULT_REGION, which the AWS CLI also honours.
  const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || undefined;
  const forcePathStyle = forced === undefined || forced === '' ? Boolean(endpoint) : forced === '1' || forced === 'true';
  const key = JSON.stringify([endpoint, forcePathStyle, region]);
  let found = clients.get(key);
  if (!found) {
    // labq pins the SDK's version (package-lock.json): its notice that later versions will
    // need Node 22 is about labq's own upgrades, and it filled every worker's log on Node 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    found = new S3Client({ endpoint, forcePathStyle, region, followRegionRedirects: true });
    clients.set(key, found);
  }
  return found;
}

export class S3Store implements Store {
  constructor(private readonly bucket: string) {}

  async stat(key: string, signal?: AbortSignal): Promise<Stat> {
    if (key !== '' && !key.endsWith('/')) {
      try {
        const head = await client().send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
        return { kind: 'file', file: { path: key, size: head.ContentLength ?? 0, etag: head.ETag, modified: head.LastModified } };
      } catch (error) {
        // Some S3 servers answer a HEAD of a key that is also a prefix with an error rather than a 404.
        if (!isNotFound(error)) {
          if (await this.hasFolder(key, signal)) return { kind: 'folder' };
          throw error;
        }
      }
    }
    return (await this.hasFolder(key, signal)) ? { kind: 'folder' } : undefined;
  }

  private async hasFolder(key: string, signal?: AbortSignal): Promise<boolean> {
    // One page of the default size: s3rver (the tests' server) fails a MaxKeys=1 listing of nested keys.
    const page = await client().send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: folderPrefix(key) }), { abortSignal: signal });
    return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
  }

  async list(key: string): Promise<RemoteFile[]> {
    const prefix = folderPrefix(key);
    const files: RemoteFile[] = [];
    for await (const page of paginateListObjectsV2({ client: client() }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) {
        const rest = object.Key!.slice(prefix.length);
        if (rest === '' || rest.endsWith('/')) continue;
        files.push({ path: rest, size: object.Size ?? 0, etag: object.ETag, modified: object.LastModified });
      }
    }
    return files;
  }

  /**
   * The body is checked end to end: against the object's stored checksum by the SDK where
   * there is one (ChecksumMode), and against its ETag where that is an MD5 (a single-part
   * upload without KMS encryption).
   */
  async read(key: string, signal?: AbortSignal): Promise<Readable> {
    const response = await client().send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }), { abortSignal: signal });
    const body = response.Body as Readable;
    const tag = response.ETag?.replace(/"/g, '');
    if (!tag || !/^[0-9a-f]{32}$/i.test(tag) || response.ServerSideEncryption?.startsWith('aws:kms') || response.SSECustomerAlgorithm) return body;
    // pipeline, not pipe: an error of the body reaches the reader through the check.
    return pipeline(body, md5Check(tag.toLowerCase(), `s3://${this.bucket}/${key}`), () => undefined);
  }

  async write(key: string, body: Readable, size: number, signal?: AbortSignal): Promise<void> {
    const upload = new Upload({
      client: client(), params: { Bucket: this.bucket, Key: key, Body: body }, partSize: partSizeFor(size), abortController: controllerFor(signal),
    });
    await upload.done();
  }

  async remove(key: string, signal?: AbortSignal): Promise<void> {
    await client().send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
  }

  close(): void {}
}

const MIN_PART_BYTES = 5 * 1024 ** 2;
const MAX_PARTS = 10_000;

/**
 * The part size of an upload of `size` bytes: 5 MiB, or more past 48.8 GiB, since S3 takes at
 * most 10,000 parts and lib-storage cannot tell a stream's size itself. Unknown (-1): 5 MiB.
 */
export function partSizeFor(size: number): number {
  return Math.max(MIN_PART_BYTES, Math.ceil(size / MAX_PARTS));
}

/** Passes the bytes through and fails at the end when their MD5 is not `expected`. */
function md5Check(expected: string, what: string): Transform {
  const hash = createHash('md5');
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const actual = hash.digest('hex');
      done(actual === expected ? null : new Error(`checksum mismatch for ${what}: MD5 ${actual}, the store says ${expected}`));
    },
  });
}

function folderPrefix(key: string): string {
  return key === '' || key.endsWith('/') ? key : `${key}/`;
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

function controllerFor(signal?: AbortSignal): AbortController {
  const controller = new AbortController();
  if (signal?.aborted) controller.abort();
  else signal?.addEventListener('abort', () => controller.abort(), { once: true });
  return controller;
}
