// s3:// transfers with the AWS SDK: credentials from the standard chain (environment, shared
// files and profiles, SSO, instance and container roles), the endpoint from AWS_ENDPOINT_URL_S3
// or AWS_ENDPOINT_URL (MinIO, Ceph, OVH...), path-style addressing whenever an endpoint is set
// (what those stores serve; LABQ_S3_FORCE_PATH_STYLE=0 or 1 overrides). Objects stream to and
// from disk; uploads are multipart (lib-storage), so memory stays bounded whatever the size.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ParsedUri } from '../shared/uri.js';
import { withRetries } from './retry.js';

const clients = new Map<string, S3Client>();

/**
 * One client per configuration, kept for the worker's life: it resolves credentials once and
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
    found = new S3Client({ endpoint, forcePathStyle, region, followRegionRedirects: true });
    clients.set(key, found);
  }
  return found;
}

/**
 * `s3://b/dir/` delivers the objects under `dir/` into `destDir`; `s3://b/key` the object
 * `key`, or, when there is none, the objects under `key/` as the folder `destDir/<name>`.
 */
export async function downloadS3(parsed: ParsedUri, destDir: string, localName: string, signal?: AbortSignal): Promise<string> {
  const { host: bucket, path: key } = parsed;
  if (key === '' || key.endsWith('/')) {
    await downloadPrefix(bucket, key, destDir, signal);
    return destDir;
  }
  const target = join(destDir, localName);
  try {
    await getObject(bucket, key, target, signal);
    return target;
  } catch (error) {
    if ((error as Error).name !== 'NoSuchKey') throw error;
  }
  if (!(await downloadPrefix(bucket, `${key}/`, target, signal))) {
    throw new Error(`no object ${key} and no folder ${key}/ in bucket ${bucket}`);
  }
  return target;
}

/** Uploads every file under `sourceDir` under the URI's key prefix; returns how many went. */
export async function uploadS3(sourceDir: string, files: string[], parsed: ParsedUri, signal?: AbortSignal): Promise<number> {
  const prefix = parsed.path === '' || parsed.path.endsWith('/') ? parsed.path : `${parsed.path}/`;
  for (const file of files) {
    const key = prefix + relative(sourceDir, file).split(sep).join('/');
    await withRetries(async () => {
      const upload = new Upload({ client: client(), params: { Bucket: parsed.host, Key: key, Body: createReadStream(file) }, abortController: controllerFor(signal) });
      await upload.done();
    }, signal);
  }
  return files.length;
}

async function downloadPrefix(bucket: string, prefix: string, destDir: string, signal?: AbortSignal): Promise<number> {
  await mkdir(destDir, { recursive: true });
  let count = 0;
  for await (const page of paginateListObjectsV2({ client: client() }, { Bucket: bucket, Prefix: prefix })) {
    for (const object of page.Contents ?? []) {
      const rest = object.Key!.slice(prefix.length);
      // A zero-byte `dir/` marker object is a folder, which the files under it create anyway.
      if (rest === '' || rest.endsWith('/')) continue;
      const target = join(destDir, ...rest.split('/'));
      if (relative(destDir, target).startsWith('..')) throw new Error(`object key ${object.Key} climbs out of its folder`);
      await getObject(bucket, object.Key!, target, signal);
      count++;
    }
  }
  return count;
}

async function getObject(bucket: string, key: string, target: string, signal?: AbortSignal): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  // A partial file never takes the real name, so a failed download is never mistaken for a done one.
  const partial = `${target}.part`;
  try {
    await withRetries(async () => {
      const response = await client().send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
      await pipeline(response.Body as Readable, createWriteStream(partial), { signal });
    }, signal);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

function controllerFor(signal?: AbortSignal): AbortController {
  const controller = new AbortController();
  if (signal?.aborted) controller.abort();
  else signal?.addEventListener('abort', () => controller.abort(), { once: true });
  return controller;
}
