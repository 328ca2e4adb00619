// Transfers against real files, a real HTTP server started here, a real S3 server (s3rver)
// and FTP server (ftp-srv), and archives made by the real tar, gzip and zip tools: downloads
// and uploads for every scheme, the folder rule (a trailing slash delivers the content), resource
// actions, a retry after a dropped connection, and failures that name the URI. The cache itself
// is tested in ./resourceCache.test.ts, the actions in ./unpack.test.ts.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestFtp, startTestS3, type TestFtp, type TestS3 } from '../e2e/support/stores.js';
import { ResourceCache } from './resourceCache.js';
import { Slots } from './slots.js';
import { partSizeFor } from './stores/s3Store.js';
import { download, upload } from './transfers.js';

let root: string;
let server: Server;
let base: string;
/** Requests per path: each one is a download the cache did not spare. */
const hits = new Map<string, number>();
let s3: TestS3;
let ftp: TestFtp;
let home: string;
const savedEnv = { ...process.env };

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'labq-transfers-test-'));
  const files = join(root, 'served');
  await mkdir(join(files, 'bundle', 'sub'), { recursive: true });
  await writeFile(join(files, 'bundle', 'ref.fa'), '>chr1\nACGT\n');
  await writeFile(join(files, 'bundle', 'sub', 'ref.fai'), 'chr1\t4\n');
  execFileSync('tar', ['-czf', join(files, 'bundle.tar.gz'), '-C', files, 'bundle']);
  await writeFile(join(files, 'notes.txt'), 'plain text\n');
  execFileSync('gzip', ['-k', join(files, 'notes.txt')]);
  if (hasCommand('zip')) execFileSync('zip', ['-qr', join(files, 'bundle.zip'), 'bundle'], { cwd: files });

  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    // Downloads are counted; a HEAD asks for a file's facts, never its content.
    if (req.method === 'GET') {
      hits.set(path, (hits.get(path) ?? 0) + 1);
      gets.now++;
      gets.peak = Math.max(gets.peak, gets.now);
      res.once('close', () => gets.now--);
    }
    if (path === '/flaky.txt' && req.method === 'GET' && hits.get(path) === 1) {
      // The connection drops halfway through the first answer.
      res.writeHead(200, { 'content-length': 100 });
      res.write('x'.repeat(50), () => res.destroy());
      return;
    }
    if (path === '/flaky.txt') {
      res.writeHead(200, { 'content-length': 100 }).end('x'.repeat(100));
      return;
    }
    const file = join(files, path);
    stat(file).then((info) => {
      if (!info.isFile()) throw new Error('not a file');
      res.writeHead(200, { 'content-length': info.size });
      // Slow enough that concurrent resource calls really overlap.
      setTimeout(() => createReadStream(file).pipe(res), 50);
    }).catch(() => res.writeHead(404).end('not found'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  s3 = await startTestS3(['refs', 'results']);
  ftp = await startTestFtp({ cutFirstReadOf: ['/big.bin'] });
  // This process is the worker here: its environment and HOME are where it finds the stores' credentials.
  home = await mkdtemp(join(root, 'home-'));
  await writeFile(join(home, '.netrc'), ftp.netrc, { mode: 0o600 });
  Object.assign(process.env, s3.env, { HOME: home });
  const client = s3.client();
  for (const [key, body] of Object.entries(TREE)) {
    await client.send(new PutObjectCommand({ Bucket: 'refs', Key: `hg38-idx/${key}`, Body: body }));
    await mkdir(join(ftp.root, 'hg38-idx', 'sub'), { recursive: true });
    await writeFile(join(ftp.root, 'hg38-idx', key), body);
  }
  await client.send(new PutObjectCommand({ Bucket: 'refs', Key: 'reads.fq', Body: '@r1\nACGT\n' }));
  await client.send(new PutObjectCommand({ Bucket: 'refs', Key: 'big.bin', Body: BIG }));
  await writeFile(join(ftp.root, 'reads.fq'), '@r1\nACGT\n');
  await writeFile(join(ftp.root, 'big.bin'), BIG);
  client.destroy();
});

after(async () => {
  process.env = savedEnv;
  await s3.stop();
  await ftp.stop();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

const BIG = Buffer.alloc(1024 * 1024, 'ACGT');
/** GETs being answered now, and the most at once since `peak` was last reset. */
const gets = { now: 0, peak: 0 };

/** A TCP proxy to `port` that drops the connection carrying the first `GET {path}` once `bytes` of its answer went through. */
async function droppingProxy(port: number, path: string, bytes: number): Promise<{ endpoint: string; dropped: () => boolean; close(): Promise<void> }> {
  let dropped = false;
  const proxy = createTcpServer((socket) => {
    const upstream = connect(port, '127.0.0.1');
    let victim = false;
    let passed = 0;
    socket.on('data', (chunk) => {
      if (!dropped && chunk.toString('latin1').startsWith(`GET ${path}`)) victim = dropped = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      passed += chunk.length;
      if (victim && passed > bytes) {
        socket.destroy();
        upstream.destroy();
      } else socket.write(chunk);
    });
    upstream.on('end', () => socket.end()).on('error', () => socket.destroy());
    socket.on('end', () => upstream.end()).on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    dropped: () => dropped,
    close: () => new Promise((resolve) => proxy.close(() => resolve())),
  };
}

/** A reference folder, in both stores as `hg38-idx/`. */
const TREE: Record<string, string> = { 'ref.fa': '>chr1\nACGT\n', 'sub/ref.fai': 'chr1\t4\n' };

async function treeOf(dir: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) tree[join(entry.parentPath, entry.name).slice(dir.length + 1)] = await readFile(join(entry.parentPath, entry.name), 'utf8');
  }
  return tree;
}

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

async function scratch(name: string): Promise<string> {
  return mkdtemp(join(root, `${name}-`));
}

/** A resource cache in a fresh scratch folder, whose `prepareResource` gives the entry's directory. */
async function resourceCache(): Promise<{ dir: string; prepareResource(spec: string): Promise<string> }> {
  const dir = await scratch('cache');
  const cache = new ResourceCache({ dir, log: () => undefined });
  await cache.open();
  return { dir, prepareResource: async (spec) => (await cache.prepare(spec)).dir };
}

test('file:// downloads a file', async () => {
  const dest = await scratch('dest');
  const path = await download(pathToFileURL(join(root, 'served', 'notes.txt')).href, join(dest, 'input'));
  assert.equal(path, join(dest, 'input', 'notes.txt'));
  assert.equal(await readFile(path, 'utf8'), 'plain text\n');
});

test('file:// downloads a directory recursively', async () => {
  const dest = await scratch('dest');
  const path = await download(pathToFileURL(join(root, 'served', 'bundle')).href, dest);
  assert.equal(path, join(dest, 'bundle'));
  assert.equal(await readFile(join(path, 'ref.fa'), 'utf8'), '>chr1\nACGT\n');
  assert.equal(await readFile(join(path, 'sub', 'ref.fai'), 'utf8'), 'chr1\t4\n');
});

test('file:// of a missing path fails', async () => {
  await assert.rejects(download('file:///nonexistent/labq/input.txt', await scratch('dest')), /no such file or folder: \/nonexistent\/labq\/input\.txt/);
});

test('http:// downloads to a file named after the path', async () => {
  const dest = await scratch('dest');
  const path = await download(`${base}/notes.txt`, dest);
  assert.equal(path, join(dest, 'notes.txt'));
  assert.equal(await readFile(path, 'utf8'), 'plain text\n');
  assert.deepEqual(await readdir(dest), ['notes.txt']);
});

test('a URI with credentials is refused without showing them', async () => {
  const dest = await scratch('dest');
  for (const uri of [`http://alice:s3cret@127.0.0.1:${new URL(base).port}/notes.txt`, 's3://AKIAX:s3cret@refs/reads.fq', `ftp://labq:s3cret@${ftp.host}/reads.fq`]) {
    await assert.rejects(download(uri, dest), (error: Error) => {
      assert.match(error.message, /credentials in a URI are refused/);
      assert.doesNotMatch(error.message, /alice|AKIAX|s3cret/);
      return true;
    });
  }
});

test('a connection dropped mid-download is retried', async () => {
  const path = await download(`${base}/flaky.txt`, await scratch('dest'));
  assert.equal(await readFile(path, 'utf8'), 'x'.repeat(100));
  assert.equal(hits.get('/flaky.txt'), 2);
});

test('downloads share the bound they are given: 6 files with 2 slots go 2 at a time', async () => {
  const dest = await scratch('dest');
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const name of names) await writeFile(join(root, 'served', `${name}.txt`), name);
  gets.peak = 0;
  const limit = new Slots(2);
  await Promise.all(names.map((name) => download(`${base}/${name}.txt`, dest, { limit })));
  assert.equal(gets.peak, 2, 'in parallel, and never more than the bound');
  assert.equal(limit.inUse, 0);
  assert.deepEqual((await readdir(dest)).sort(), names.map((name) => `${name}.txt`));
});

test('http:// 404 fails clearly and leaves nothing behind', async () => {
  const dest = await scratch('dest');
  await assert.rejects(download(`${base}/missing.txt`, dest), /download of http:\/\/127\.0\.0\.1:\d+\/missing\.txt failed: HTTP 404 Not Found/);
  assert.deepEqual(await readdir(dest), []);
});

test('an http:// port that fetch blocks is named, with why, not fetch\'s bare "bad port"', async () => {
  // Nothing listens there: fetch refuses before it connects, whatever would answer.
  for (const port of [6000, 10080]) {
    await assert.rejects(download(`http://127.0.0.1:${port}/reads.fq`, await scratch('dest')), {
      message: `download of http://127.0.0.1:${port}/reads.fq failed: port ${port} is a port on the Fetch standard's list of blocked ports, to which Node's fetch never connects: serve the file on another port`,
    });
  }
});

test('a redirect to a port that fetch blocks says so', async () => {
  const redirecting = createServer((_req, res) => res.writeHead(302, { location: 'http://127.0.0.1:6000/reads.fq' }).end());
  await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
  try {
    const uri = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/reads.fq`;
    await assert.rejects(download(uri, await scratch('dest')), {
      message: `download of ${uri} failed: a redirect led to a port on the Fetch standard's list of blocked ports, to which Node's fetch never connects: serve the file on another port`,
    });
  } finally {
    redirecting.close();
  }
});

test('an http:// server that cannot be reached is named with why, not fetch\'s bare "fetch failed"', async () => {
  const closed = createTcpServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => closed.once('listening', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  await assert.rejects(download(`http://127.0.0.1:${port}/reads.fq`, await scratch('dest')),
    { message: `download of http://127.0.0.1:${port}/reads.fq failed: connect ECONNREFUSED 127.0.0.1:${port}` });
});

test('an aborted download stops', async () => {
  await assert.rejects(download(`${base}/notes.txt`, await scratch('dest'), { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('a resource without steps, gunzip, and unzip', async () => {
  const { prepareResource } = await resourceCache();
  const plain = await prepareResource(`${base}/notes.txt`);
  assert.equal(await readFile(join(plain, 'notes.txt'), 'utf8'), 'plain text\n');
  const gunzipped = await prepareResource(`${base}/notes.txt.gz|gunzip`);
  assert.deepEqual(await readdir(gunzipped), ['notes.txt']);
  assert.equal(await readFile(join(gunzipped, 'notes.txt'), 'utf8'), 'plain text\n');
  const chained = await prepareResource(pathToFileURL(join(root, 'served', 'bundle.tar.gz')).href + '|gunzip|untar');
  assert.equal(await readFile(join(chained, 'bundle', 'ref.fa'), 'utf8'), '>chr1\nACGT\n');
  if (hasCommand('zip')) {
    const unzipped = await prepareResource(`${base}/bundle.zip|unzip`);
    assert.equal(await readFile(join(unzipped, 'bundle', 'sub', 'ref.fai'), 'utf8'), 'chr1\t4\n');
  }
});

test('a failing resource step fails clearly and caches nothing', async () => {
  const { dir: cache, prepareResource } = await resourceCache();
  await assert.rejects(prepareResource(`${base}/notes.txt|untar`), /the untar step failed on notes\.txt: not a tar archive/);
  await assert.rejects(prepareResource(`${base}/bundle.tar.gz|untar|gunzip`), /the gunzip step needs a file/);
  await assert.rejects(prepareResource(`${base}/bundle.tar.gz|explode`), /unknown resource step "explode"/);
  assert.deepEqual(await readdir(cache), []);
});

test('upload copies a nested directory to file:// and counts its files, following links', async () => {
  const out = await scratch('output');
  await mkdir(join(out, 'a', 'b', 'c'), { recursive: true });
  await mkdir(join(out, 'empty'));
  await writeFile(join(out, 'top.txt'), 'top');
  await writeFile(join(out, 'a', 'mid.txt'), 'mid');
  await writeFile(join(out, 'a', 'b', 'c', 'deep.bin'), Buffer.from([0, 1, 2, 255]));
  await symlink('top.txt', join(out, 'link.txt'));
  const target = join(await scratch('results'), 'run', 'S12');

  assert.equal(await upload(out, pathToFileURL(target).href + '/'), 4);
  assert.equal(await readFile(join(target, 'top.txt'), 'utf8'), 'top');
  assert.equal(await readFile(join(target, 'a', 'mid.txt'), 'utf8'), 'mid');
  assert.deepEqual(await readFile(join(target, 'a', 'b', 'c', 'deep.bin')), Buffer.from([0, 1, 2, 255]));
  // As on every store: a link delivers what it points to, and an empty folder holds nothing to deliver.
  assert.equal(await readFile(join(target, 'link.txt'), 'utf8'), 'top');
  assert.ok((await lstat(join(target, 'link.txt'))).isFile());
  assert.equal(await stat(join(target, 'empty')).catch(() => null), null);
  assert.equal(await upload(out, pathToFileURL(target).href), 4, 'uploading again overwrites');
});

test('an ftp download whose server drops the session halfway is retried', async () => {
  const progress = { expected: 0, moved: 0, expect(bytes: number) { this.expected += bytes; }, add(bytes: number) { this.moved += bytes; } };
  const path = await download(`ftp://${ftp.host}/big.bin`, await scratch('dest'), { progress });
  assert.deepEqual(await readFile(path), BIG);
  assert.deepEqual(await readdir(join(path, '..')), ['big.bin'], 'no partial file left');
  assert.deepEqual([progress.expected, progress.moved], [BIG.length, BIG.length], 'the bytes of the cut attempt are taken back');
});

test('an s3 object whose bytes do not match its ETag fails the download with a checksum mismatch', async () => {
  const client = s3.client();
  await client.send(new PutObjectCommand({ Bucket: 'refs', Key: 'rotten.fq', Body: '@r1\nACGT\n' }));
  client.destroy();
  // The stored bytes change behind the server's back (a bad disk, say); it still serves the MD5 of the old ones.
  await writeFile(join(s3.root, 'refs', 'rotten.fq._S3rver_object'), '@r1\nTTTT\n');
  const dest = await scratch('dest');
  await assert.rejects(download('s3://refs/rotten.fq', dest), /^Error: download of s3:\/\/refs\/rotten\.fq failed: checksum mismatch for s3:\/\/refs\/rotten\.fq: MD5 [0-9a-f]{32}, the store says [0-9a-f]{32}$/);
  assert.deepEqual(await readdir(dest), [], 'nothing left under the real name, nor a partial file');
});

test('an s3 download whose connection drops halfway is retried', async () => {
  const proxy = await droppingProxy(Number(new URL(s3.endpoint).port), '/refs/big.bin', 256 * 1024);
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  try {
    const path = await download('s3://refs/big.bin', await scratch('dest'));
    assert.ok(proxy.dropped(), 'the first answer was cut');
    assert.deepEqual(await readFile(path), BIG);
  } finally {
    process.env.AWS_ENDPOINT_URL = s3.endpoint;
    await proxy.close();
  }
});

test('folders: a trailing slash delivers the content, none the folder itself, for file, s3 and ftp', async () => {
  const local = pathToFileURL(join(root, 'served', 'bundle')).href;
  const sources = { file: [local + '/', local], s3: ['s3://refs/hg38-idx/', 's3://refs/hg38-idx'], ftp: [`ftp://${ftp.host}/hg38-idx/`, `ftp://${ftp.host}/hg38-idx`] };
  for (const [scheme, [content, itself]] of Object.entries(sources)) {
    const tree = scheme === 'file' ? { 'ref.fa': '>chr1\nACGT\n', 'sub/ref.fai': 'chr1\t4\n' } : TREE;
    const a = await scratch(`${scheme}-content`);
    assert.equal(await download(content!, a), a, scheme);
    assert.deepEqual(await treeOf(a), tree, `${scheme}: ${content} gives the content`);
    const b = await scratch(`${scheme}-itself`);
    assert.equal(await download(itself!, b), join(b, itself!.split('/').at(-1)!), scheme);
    assert.deepEqual(await treeOf(b), Object.fromEntries(Object.entries(tree).map(([k, v]) => [join(itself!.split('/').at(-1)!, k), v])), `${scheme}: ${itself} gives the folder`);
  }
});

test('a single file over s3 and ftp', async () => {
  for (const uri of ['s3://refs/reads.fq', `ftp://${ftp.host}/reads.fq`]) {
    const dest = await scratch('dest');
    assert.equal(await readFile(await download(uri, dest), 'utf8'), '@r1\nACGT\n', uri);
    assert.deepEqual(await readdir(dest), ['reads.fq'], uri);
  }
});

test('a folder resource with a trailing slash is mounted as its content', async () => {
  const { prepareResource } = await resourceCache();
  for (const spec of [pathToFileURL(join(root, 'served', 'bundle')).href + '/', 's3://refs/hg38-idx/', `ftp://${ftp.host}/hg38-idx/`]) {
    const dir = await prepareResource(spec);
    assert.equal(await readFile(join(dir, 'ref.fa'), 'utf8'), '>chr1\nACGT\n', spec);
  }
  const itself = await prepareResource('s3://refs/hg38-idx');
  assert.equal(await readFile(join(itself, 'hg38-idx', 'ref.fa'), 'utf8'), '>chr1\nACGT\n');
});

test('an upload into /proc, named or reached through a link, fails with why rather than hanging in mkdir', async () => {
  const out = await scratch('output');
  await mkdir(join(out, 'run'));
  await writeFile(join(out, 'run', 'S12.sam'), 'sam');
  const link = join(await scratch('links'), 'proc');
  await symlink('/proc', link);
  for (const [uri, folder] of [['file:///proc/labq-out/', '/proc'], [`${pathToFileURL(link).href}/labq-out/`, link]] as const) {
    await assert.rejects(upload(out, uri), {
      message: `upload to ${uri} failed: cannot make the folder ${folder}/labq-out: ${folder} takes no new folder (a pseudo file system such as /proc?)`,
    });
  }
});

test('uploads to s3 and ftp put the folder\'s content under the URI', async () => {
  const out = await scratch('output');
  await mkdir(join(out, 'a', 'b'), { recursive: true });
  await writeFile(join(out, 'top.txt'), 'top');
  await writeFile(join(out, 'a', 'b', 'deep.txt'), 'deep');
  assert.equal(await upload(out, 's3://results/run1/S12/'), 2);
  assert.equal(await upload(out, `ftp://${ftp.host}/results/run1/S12`), 2);
  const back = await scratch('back');
  await download('s3://results/run1/S12/', back);
  assert.deepEqual(await treeOf(back), { 'top.txt': 'top', 'a/b/deep.txt': 'deep' });
  assert.deepEqual(await treeOf(join(ftp.root, 'results', 'run1', 'S12')), { 'top.txt': 'top', 'a/b/deep.txt': 'deep' });
});

test('an s3 upload of any size S3 takes fits its 10,000 parts: 5 MiB parts, larger past 48.8 GiB', () => {
  const MiB = 1024 ** 2;
  assert.equal(partSizeFor(200 * MiB), 5 * MiB);
  assert.equal(partSizeFor(-1), 5 * MiB, 'a size the source did not tell');
  for (const size of [60 * 1024 ** 3, 5 * 1024 ** 4]) assert.ok(Math.ceil(size / partSizeFor(size)) <= 10_000, `${size} bytes`);
});

test('failures name the URI and the error', async () => {
  const dest = await scratch('dest');
  await assert.rejects(download('s3://refs/missing.fq', dest), { message: 'download of s3://refs/missing.fq failed: no object missing.fq and no folder missing.fq/ in bucket refs' });
  await assert.rejects(download('s3://nobucket/x.fq', dest), /^Error: download of s3:\/\/nobucket\/x\.fq failed: NoSuchBucket/);
  await assert.rejects(download(`ftp://${ftp.host}/missing.fq`, dest), new RegExp(`^Error: download of ftp://${ftp.host}/missing\\.fq failed: .+`));
  const out = await scratch('output');
  await writeFile(join(out, 'result.txt'), 'r');
  await assert.rejects(upload(out, 's3://nobucket/run/'), /^Error: upload to s3:\/\/nobucket\/run\/ failed: NoSuchBucket/);
  await assert.rejects(upload(dest, `${base}/upload/`), /upload to http:\/\/127\.0\.0\.1:\d+\/upload\/ failed: http:\/\/ takes no uploads: use s3, ftp, ftps or file/);
  await assert.rejects(download(`${base}/folder/`, dest), /http\(s\) has no folder listing/);
  await assert.rejects(download('gopher://host/x', dest), /unsupported scheme "gopher"/);
});

test('the AWS SDK does not fill a worker\'s log with the Node versions of its later releases', () => {
  const { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _, ...env } = process.env;
  const store = pathToFileURL(join(import.meta.dirname, 'stores', 's3Store.js')).href;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { S3Store } from ${JSON.stringify(store)};
    await new S3Store('data').stat('x').catch(() => undefined);`], {
    env: { ...env, AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' }, encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /NodeVersionSupportWarning/);
});
