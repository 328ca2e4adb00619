// Transfers against real files, a real HTTP server started here, and the real tar, gzip and
// unzip tools: file and http downloads, the resource cache under concurrent calls, uploads
// of nested directories, and the errors for what this worker cannot do yet.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { download, prepareResource, upload } from './transfers.js';

let root: string;
let server: Server;
let base: string;
/** Requests per path: each one is a download the cache did not spare. */
const hits = new Map<string, number>();

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
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/private.txt') {
      const expected = 'Basic ' + Buffer.from('alice:s3cret').toString('base64');
      res.writeHead(req.headers.authorization === expected ? 200 : 401).end(req.headers.authorization === expected ? 'secret data' : '');
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
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

async function scratch(name: string): Promise<string> {
  return mkdtemp(join(root, `${name}-`));
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
  await assert.rejects(download('file:///nonexistent/labq/input.txt', await scratch('dest')), /ENOENT/);
});

test('http:// downloads to a file named after the path', async () => {
  const dest = await scratch('dest');
  const path = await download(`${base}/notes.txt`, dest);
  assert.equal(path, join(dest, 'notes.txt'));
  assert.equal(await readFile(path, 'utf8'), 'plain text\n');
  assert.deepEqual(await readdir(dest), ['notes.txt']);
});

test('http:// with credentials in the URI sends them, and never shows them', async () => {
  const dest = await scratch('dest');
  const path = await download(`http://alice:s3cret@127.0.0.1:${new URL(base).port}/private.txt`, dest);
  assert.equal(await readFile(path, 'utf8'), 'secret data');
  await assert.rejects(download(`http://alice:wrong@127.0.0.1:${new URL(base).port}/private.txt`, dest), (error: Error) => {
    assert.match(error.message, /GET http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/private\.txt failed: HTTP 401/);
    assert.doesNotMatch(error.message, /alice|wrong/);
    return true;
  });
});

test('http:// 404 fails clearly and leaves nothing behind', async () => {
  const dest = await scratch('dest');
  await assert.rejects(download(`${base}/missing.txt`, dest), /GET http:\/\/127\.0\.0\.1:\d+\/missing\.txt failed: HTTP 404 Not Found/);
  assert.deepEqual(await readdir(dest), []);
});

test('an aborted download stops', async () => {
  await assert.rejects(download(`${base}/notes.txt`, await scratch('dest'), AbortSignal.abort()), { name: 'AbortError' });
});

test('concurrent calls for one tar.gz resource download and extract it once, into one directory', async () => {
  const cache = await scratch('cache');
  const spec = `${base}/bundle.tar.gz|untar`;
  const dirs = await Promise.all([prepareResource(spec, cache), prepareResource(spec, cache), prepareResource(spec, cache)]);
  assert.equal(hits.get('/bundle.tar.gz'), 1);
  assert.equal(new Set(dirs).size, 1);
  const [dir] = dirs;
  assert.equal(await readFile(join(dir, 'bundle', 'ref.fa'), 'utf8'), '>chr1\nACGT\n');
  assert.equal(await readFile(join(dir, 'bundle', 'sub', 'ref.fai'), 'utf8'), 'chr1\t4\n');
  assert.deepEqual(await readdir(dir), ['bundle'], 'the archive itself is not kept');
  assert.deepEqual(await readdir(cache), [dir.split('/').at(-1)], 'no scratch left in the cache');

  assert.equal(await prepareResource(spec, cache), dir, 'a later call finds the entry');
  assert.equal(hits.get('/bundle.tar.gz'), 1);
  assert.notEqual(await prepareResource(`${base}/bundle.tar.gz`, cache), dir, 'other steps, other entry');
});

test('a resource without steps, gunzip, and unzip', async () => {
  const cache = await scratch('cache');
  const plain = await prepareResource(`${base}/notes.txt`, cache);
  assert.equal(await readFile(join(plain, 'notes.txt'), 'utf8'), 'plain text\n');
  const gunzipped = await prepareResource(`${base}/notes.txt.gz|gunzip`, cache);
  assert.deepEqual(await readdir(gunzipped), ['notes.txt']);
  assert.equal(await readFile(join(gunzipped, 'notes.txt'), 'utf8'), 'plain text\n');
  const chained = await prepareResource(pathToFileURL(join(root, 'served', 'bundle.tar.gz')).href + '|gunzip|untar', cache);
  assert.equal(await readFile(join(chained, 'bundle', 'ref.fa'), 'utf8'), '>chr1\nACGT\n');
  if (hasCommand('zip') && hasCommand('unzip')) {
    const unzipped = await prepareResource(`${base}/bundle.zip|unzip`, cache);
    assert.equal(await readFile(join(unzipped, 'bundle', 'sub', 'ref.fai'), 'utf8'), 'chr1\t4\n');
  }
});

test('a failing resource step fails clearly and caches nothing', async () => {
  const cache = await scratch('cache');
  await assert.rejects(prepareResource(`${base}/notes.txt|untar`, cache), /tar failed \(exit 2\)/);
  await assert.rejects(prepareResource(`${base}/bundle.tar.gz|untar|gunzip`, cache), /the gunzip step needs a file/);
  await assert.rejects(prepareResource(`${base}/bundle.tar.gz|explode`, cache), /unknown resource step "explode"/);
  assert.deepEqual(await readdir(cache), []);
});

test('a build aborted by one caller is redone for another', async () => {
  const cache = await scratch('cache');
  const spec = `${base}/bundle.tar.gz|untar`;
  const controller = new AbortController();
  const first = prepareResource(spec, cache, controller.signal);
  const second = prepareResource(spec, cache);
  setTimeout(() => controller.abort(), 10);
  await assert.rejects(first, { name: 'AbortError' });
  const dir = await second;
  assert.equal(await readFile(join(dir, 'bundle', 'ref.fa'), 'utf8'), '>chr1\nACGT\n');
});

test('upload copies a nested directory to file:// and counts its files', async () => {
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
  assert.equal(await readlink(join(target, 'link.txt')), 'top.txt');
  assert.ok((await stat(join(target, 'empty'))).isDirectory());
  assert.equal(await upload(out, pathToFileURL(target).href), 4, 'uploading again overwrites');
});

test('schemes this worker cannot handle yet fail clearly', async () => {
  const dest = await scratch('dest');
  await assert.rejects(download('s3://bucket/key.fq', dest), { message: 's3:// transfers are not supported by this worker yet' });
  await assert.rejects(download('ftp://host/file', dest), { message: 'ftp:// transfers are not supported by this worker yet' });
  await assert.rejects(prepareResource('s3://refs/hg38.tar.gz|untar', dest), /s3:\/\/ transfers are not supported/);
  await assert.rejects(upload(dest, 's3://results/run/'), { message: 's3:// uploads are not supported by this worker yet' });
  await assert.rejects(upload(dest, `${base}/upload/`), { message: 'http:// uploads are not supported by this worker yet' });
  await assert.rejects(download('gopher://host/x', dest), /unsupported scheme "gopher"/);
});
