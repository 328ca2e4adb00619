// The resource cache against a real HTTP server started here (whose answers the tests change
// and whose requests they count) and a real S3 server (s3rver): one download for many uses,
// a new entry when the remote changes by size, ETag or date (and none within the check
// interval), the old entry kept while held, eviction of the least recently used unused entry
// past the bound, what a crash left removed at open, and a cached copy used when the store
// cannot be reached (also the old version, when the new one could not be fetched).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestS3, type TestS3 } from '../e2e/support/stores.js';
import { ResourceCache, type ResourceCacheOptions } from './resourceCache.js';

let root: string;
let server: Server;
let base: string;
let s3: TestS3;
const savedEnv = { ...process.env };

/** What the HTTP server answers for each path: the body and the facts its HEAD gives; `drop` cuts the connection of a GET, or of any request. */
const served = new Map<string, { body: string; etag?: string; modified?: string; drop?: 'get' | 'all' }>();
/** Requests per method and path, e.g. `GET /a.txt`. */
const requests = new Map<string, number>();
const count = (method: string, path: string) => requests.get(`${method} ${path}`) ?? 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'labq-resource-cache-test-'));
  server = createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    requests.set(`${req.method} ${path}`, count(req.method!, path) + 1);
    const file = served.get(path);
    if (!file) return void res.writeHead(404).end();
    if (file.drop === 'all' || (file.drop === 'get' && req.method === 'GET')) return void req.socket.destroy();
    const headers = { 'content-length': Buffer.byteLength(file.body), ...(file.etag && { etag: file.etag }), ...(file.modified && { 'last-modified': file.modified }) };
    if (req.method === 'HEAD') return void res.writeHead(200, headers).end();
    res.writeHead(200, headers);
    // Slow enough that concurrent calls really overlap.
    setTimeout(() => res.end(file.body), 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s3 = await startTestS3(['refs']);
  Object.assign(process.env, s3.env);
});

after(async () => {
  process.env = savedEnv;
  await s3.stop();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

/** A cache in a fresh folder (or `dir`) opened as the daemon opens it, collecting its log. */
async function openCache(options: Partial<ResourceCacheOptions> = {}): Promise<{ cache: ResourceCache; dir: string; logs: string[] }> {
  const logs: string[] = [];
  const dir = options.dir ?? (await mkdtemp(join(root, 'cache-')));
  const cache = new ResourceCache({ dir, log: (line) => logs.push(line), ...options });
  await cache.open();
  cache.tidy();
  return { cache, dir, logs };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

let servedCount = 0;

/** Serves `body` at a fresh path; returns the path and its URL. */
function serve(body: string, facts: { etag?: string; modified?: string } = {}): { path: string; url: string } {
  const path = `/file-${++servedCount}.txt`;
  served.set(path, { body, ...facts });
  return { path, url: base + path };
}

test('ten concurrent uses of one resource download it once and share one entry, which a later use finds', async () => {
  const { cache, dir } = await openCache();
  const { path, url } = serve('>chr1\nACGT\n', { etag: '"v1"' });
  const handles = await Promise.all(Array.from({ length: 10 }, () => cache.prepare(url)));
  assert.equal(count('GET', path), 1);
  assert.equal(new Set(handles.map((h) => h.dir)).size, 1);
  const entry = handles[0]!.dir;
  assert.equal(await readFile(join(entry, path.slice(1)), 'utf8'), '>chr1\nACGT\n');
  const name = entry.split('/').at(-1)!;
  assert.deepEqual((await readdir(dir)).sort(), [name, `${name}.json`], 'no scratch left in the cache');
  const meta = JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8'));
  assert.deepEqual(meta.fingerprint, [{ path: path.slice(1), size: 11, etag: '"v1"', modified: null }]);
  assert.equal(meta.bytes, 11);
  for (const handle of handles) handle.release();

  const later = await cache.prepare(url);
  assert.equal(later.dir, entry);
  assert.equal(count('GET', path), 1);
});

test('a build aborted by the caller that started it is redone for another', async () => {
  const { cache } = await openCache();
  const { url } = serve('content\n');
  const controller = new AbortController();
  const first = cache.prepare(url, { signal: controller.signal });
  const second = cache.prepare(url);
  setTimeout(() => controller.abort(), 10);
  await assert.rejects(first, { name: 'AbortError' });
  const { dir } = await second;
  assert.deepEqual(await readdir(dir), [url.split('/').at(-1)]);
});

test('within the check interval the remote is not looked at, even when it changed', async () => {
  const { cache } = await openCache({ checkSeconds: 3600 });
  const { path, url } = serve('one\n', { etag: '"1"' });
  const first = await cache.prepare(url);
  const heads = count('HEAD', path);
  served.set(path, { body: 'two\n', etag: '"2"' });
  assert.equal((await cache.prepare(url)).dir, first.dir);
  assert.equal(count('HEAD', path), heads, 'no look at the remote');
  assert.equal(count('GET', path), 1);
});

test('a change of size, ETag or date alone makes a new entry; no change, none', async () => {
  const { cache } = await openCache({ checkSeconds: 0 });
  const date = 'Tue, 03 Nov 2026 10:00:00 GMT';
  const { path, url } = serve('abc\n', { etag: '"a"', modified: date });
  const dirs = [(await cache.prepare(url)).dir];
  const next = async (facts: { body: string; etag?: string; modified?: string }) => {
    served.set(path, facts);
    const { dir, release } = await cache.prepare(url);
    release();
    dirs.push(dir);
    return readFile(join(dir, path.slice(1)), 'utf8');
  };
  assert.equal(await next({ body: 'abc\n', etag: '"a"', modified: date }), 'abc\n');
  assert.equal(dirs[1], dirs[0], 'unchanged: the same entry');
  assert.equal(count('GET', path), 1);
  assert.equal(await next({ body: 'xyz\n', etag: '"b"', modified: date }), 'xyz\n', 'ETag');
  assert.equal(await next({ body: 'xyz\n', etag: '"b"', modified: 'Wed, 04 Nov 2026 10:00:00 GMT' }), 'xyz\n', 'date');
  assert.equal(await next({ body: 'longer\n', etag: '"b"', modified: 'Wed, 04 Nov 2026 10:00:00 GMT' }), 'longer\n', 'size');
  assert.equal(new Set(dirs.slice(1)).size, 4, 'each change, a new entry');
  assert.equal(count('GET', path), 4);
});

test('an S3 object overwritten: the next use gets a new entry, the old one stays while held and goes when released', async () => {
  const { cache, dir } = await openCache({ checkSeconds: 0 });
  const client = s3.client();
  try {
    await client.send(new PutObjectCommand({ Bucket: 'refs', Key: 'idx/ref.fa', Body: '>chr1\nACGT\n' }));
    const old = await cache.prepare('s3://refs/idx/');
    // Same size, other content: only the ETag (an MD5) tells.
    await client.send(new PutObjectCommand({ Bucket: 'refs', Key: 'idx/ref.fa', Body: '>chr1\nTTTT\n' }));
    const fresh = await cache.prepare('s3://refs/idx/');
    assert.notEqual(fresh.dir, old.dir);
    assert.equal(await readFile(join(fresh.dir, 'ref.fa'), 'utf8'), '>chr1\nTTTT\n');
    assert.equal(await readFile(join(old.dir, 'ref.fa'), 'utf8'), '>chr1\nACGT\n', 'the old entry is still whole while held');
    fresh.release();
    old.release();
    assert.equal(await exists(old.dir), false, 'released, the old entry goes');
    assert.equal(await exists(`${old.dir}.json`), false);
    assert.equal(await exists(fresh.dir), true, 'the newest stays, unused');
    const name = fresh.dir.split('/').at(-1)!;
    await waitFor(async () => (await readdir(dir)).sort().join() === [name, `${name}.json`].join());
  } finally {
    client.destroy();
  }
});

test('past the bound, the least recently used unused entry goes; never one in use', async () => {
  const { cache } = await openCache({ maxBytes: 250 });
  const [a, b, c] = ['a', 'b', 'c'].map((letter) => serve(letter.repeat(100)));
  const heldA = await cache.prepare(a!.url);
  const usedB = await cache.prepare(b!.url);
  usedB.release();
  const usedC = await cache.prepare(c!.url);
  // 300 bytes: B goes, the least recently used unused entry; A, older still, is in use.
  assert.equal(await exists(usedB.dir), false);
  assert.equal(await exists(heldA.dir), true, 'never evicted while in use');
  usedC.release();
  heldA.release();
  assert.equal(await exists(heldA.dir), true, 'under the bound: nothing goes');
  // A is used again: C is now the least recently used.
  (await cache.prepare(a!.url)).release();
  const againB = await cache.prepare(b!.url);
  assert.equal(count('GET', b!.path), 2, 'B was fetched again');
  assert.equal(await exists(usedC.dir), false);
  assert.equal(await exists(heldA.dir), true);
  assert.equal(await exists(againB.dir), true);
  assert.equal(count('GET', a!.path), 1);
});

test('at open, scratch, half-made entries and older builds are removed; the newest entry is used without a download', async () => {
  const { cache, dir } = await openCache({ checkSeconds: 0 });
  const { path, url } = serve('v1\n', { etag: '"1"' });
  const old = await cache.prepare(url);
  served.set(path, { body: 'v2\n', etag: '"2"' });
  const fresh = await cache.prepare(url);
  // The worker dies here: the old entry is still on disk (held), and it left scratch behind.
  for (const scratch of ['.work-abc', '.entry-def', '.gone-ghi', 'deadbeef-0123456789abcdef']) await mkdir(join(dir, scratch, 'sub'), { recursive: true });
  await writeFile(join(dir, 'cafe-0123456789abcdef.json'), '{}');
  assert.equal(await exists(old.dir), true);

  const restarted = await openCache({ dir, checkSeconds: 0 });
  const name = fresh.dir.split('/').at(-1)!;
  assert.equal(await exists(old.dir), false, 'the older build no one holds is gone');
  // The older build's files are deleted in the background.
  await waitFor(async () => (await readdir(dir)).sort().join() === [name, `${name}.json`].join());
  const again = await restarted.cache.prepare(url);
  assert.equal(again.dir, fresh.dir);
  assert.equal(await readFile(join(again.dir, path.slice(1)), 'utf8'), 'v2\n');
  assert.equal(count('GET', path), 2, 'no download after the restart');
});

test('after a restart, an older build that a re-attached container mounts is kept until it is released', async () => {
  const { cache, dir } = await openCache({ checkSeconds: 0 });
  const { path, url } = serve('v1\n', { etag: '"1"' });
  const old = await cache.prepare(url);
  served.set(path, { body: 'v2\n', etag: '"2"' });
  (await cache.prepare(url)).release();
  // The worker dies while a container mounts the old entry; its successor re-attaches to it.
  const restarted = new ResourceCache({ dir, log: () => undefined });
  await restarted.open();
  const [adopted, ...more] = restarted.adopt([old.dir, join(dir, 'gone-since')]);
  assert.equal(more.length, 0, 'an entry that is not there is not held');
  restarted.tidy();
  assert.equal(adopted!.dir, old.dir);
  assert.equal(await readFile(join(old.dir, path.slice(1)), 'utf8'), 'v1\n');
  adopted!.release();
  assert.equal(await exists(old.dir), false, 'released, the older build goes');
  assert.equal(await readFile(join((await restarted.prepare(url)).dir, path.slice(1)), 'utf8'), 'v2\n');
  assert.equal(count('GET', path), 2);
});

test('a store that cannot be reached: a cached copy is used, with a warning; without one, the download fails', async () => {
  const { cache, logs } = await openCache({ checkSeconds: 0 });
  const client = s3.client();
  await client.send(new PutObjectCommand({ Bucket: 'refs', Key: 'cached.txt', Body: 'kept\n' }));
  client.destroy();
  const cached = await cache.prepare('s3://refs/cached.txt');
  cached.release();
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;
  try {
    const { dir } = await cache.prepare('s3://refs/cached.txt');
    assert.equal(dir, cached.dir);
    assert.equal(await readFile(join(dir, 'cached.txt'), 'utf8'), 'kept\n');
    assert.match(logs.join('\n'), /resource s3:\/\/refs\/cached\.txt: cannot check it for changes \(download of s3:\/\/refs\/cached\.txt failed: .+\); using the cached copy/);
    await assert.rejects(cache.prepare('s3://refs/other.txt'), /^Error: download of s3:\/\/refs\/other\.txt failed: /);
  } finally {
    process.env.AWS_ENDPOINT_URL = s3.endpoint;
  }
});

test('a new version whose download fails leaves the old entry, which stands in once the store cannot be reached', async () => {
  const { cache, logs } = await openCache({ checkSeconds: 0 });
  const { path, url } = serve('old\n', { etag: '"1"' });
  const old = await cache.prepare(url);
  old.release();
  served.set(path, { body: 'new\n', etag: '"2"', drop: 'get' });
  await assert.rejects(cache.prepare(url), /download of .+ failed/);
  assert.equal(await exists(old.dir), true, 'kept until the new version is built');
  served.set(path, { body: 'new\n', etag: '"2"', drop: 'all' });
  const fallback = await cache.prepare(url);
  assert.equal(fallback.dir, old.dir);
  assert.match(logs.join('\n'), /cannot check it for changes/);
  fallback.release();
  served.set(path, { body: 'new\n', etag: '"2"' });
  const fresh = await cache.prepare(url);
  assert.equal(await readFile(join(fresh.dir, path.slice(1)), 'utf8'), 'new\n');
  assert.equal(await exists(old.dir), false, 'replaced and unused: gone');
});

/** Polls `check` until it holds, or fails after 10 s. */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
