// `labq fetch`, the real command run as a child process with a user's environment: the AWS
// variables of an S3 server (s3rver) and a HOME whose ~/.netrc holds the login of an FTP server
// (ftp-srv) that also speaks explicit TLS, trusted through NODE_EXTRA_CA_CERTS; a plain HTTP
// server; local paths. No labq server runs: the group needs none.
//
// Every verb over every scheme it applies to (ls, cp both ways, cat; sync copying only what
// differs, --delete, --dry-run; rm with and without -r), the refusals (credentials, http
// writes and listings) and a missing object's error, each with its exit status.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestFtp, startTestS3, type TestFtp, type TestS3 } from '../e2e/support/stores.js';

const MAIN = join(resolve(import.meta.dirname, '../..'), 'dist/cli/main.js');

let root: string;
let home: string;
let s3: TestS3;
let ftp: TestFtp;
let http: Server;
let web: string;
let env: NodeJS.ProcessEnv;

/** The tree every copy starts from, as a local folder `src/` under the test's root. */
const TREE: Record<string, string> = { 'a.txt': 'alpha\n', 'sub/b.txt': 'beta beta\n' };

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'labq-fetch-test-'));
  home = join(root, 'home');
  await mkdir(home);
  await writeTree(join(root, 'src'), TREE);
  s3 = await startTestS3(['data', 'backup']);
  ftp = await startTestFtp({ tls: true });
  await writeFile(join(home, '.netrc'), ftp.netrc, { mode: 0o600 });
  const served = join(root, 'served');
  await writeTree(served, { 'notes.txt': 'served over http\n' });
  http = createServer((req, res) => {
    if (req.url === '/stalls.bin') {
      // A quarter of what it announces, then nothing more: a transfer that is only ever in progress.
      res.writeHead(200, { 'content-length': 1 << 20 });
      if (req.method === 'GET') res.write(Buffer.alloc(1 << 18));
      else res.end();
      return;
    }
    readFile(join(served, new URL(req.url!, 'http://x').pathname)).then(
      (body) => res.writeHead(200, { 'content-length': body.length }).end(req.method === 'HEAD' ? undefined : body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  web = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  env = { PATH: process.env.PATH, HOME: home, LABQ_DATA_DIR: join(root, 'no-labq-here'), NODE_EXTRA_CA_CERTS: ftp.certificate, ...s3.env };
});

after(async () => {
  await s3.stop();
  await ftp.stop();
  http.closeAllConnections();
  await new Promise((done) => http.close(done));
  await rm(root, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** `labq fetch ARGS` in the test's root; `onStdout` may stop reading (as `| head` does). */
function fetch(args: string[], onStdout?: (chunk: Buffer, stop: () => void) => void): Promise<Run> {
  return start(args, onStdout).done;
}

function start(args: string[], onStdout?: (chunk: Buffer, stop: () => void) => void): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [MAIN, 'fetch', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out.push(chunk);
    onStdout?.(chunk, () => child.stdout.destroy());
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr })));
  return { child, done };
}

async function ok(args: string[]): Promise<string> {
  const run = await fetch(args);
  assert.equal(run.code, 0, `labq fetch ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return run.stdout.toString();
}

async function json<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '--json'])) as T;
}

async function writeTree(dir: string, tree: Record<string, string>): Promise<void> {
  for (const [path, body] of Object.entries(tree)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), body);
  }
}

async function treeOf(folder: string): Promise<Record<string, string>> {
  const dir = resolve(folder);
  const tree: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile()) tree[join(entry.parentPath, entry.name).slice(dir.length + 1)] = await readFile(join(entry.parentPath, entry.name), 'utf8');
  }
  return tree;
}

/** The objects under a prefix of the test S3 server, read with its own client. */
async function s3Tree(bucket: string, prefix: string): Promise<Record<string, string>> {
  const client = s3.client();
  try {
    const tree: Record<string, string> = {};
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    for (const { Key } of page.Contents ?? []) {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
      tree[Key!.slice(prefix.length)] = await object.Body!.transformToString();
    }
    return tree;
  } finally {
    client.destroy();
  }
}

/** Each remote scheme, with where its files can be read back without labq. */
const REMOTES = [
  { scheme: 's3', uri: (path: string) => `s3://data/${path}`, tree: (path: string) => s3Tree('data', path) },
  { scheme: 'ftp', uri: (path: string) => `ftp://${ftp.host}/${path}`, tree: (path: string) => treeOf(join(ftp.root, path)) },
  { scheme: 'ftps', uri: (path: string) => `ftps://${ftp.host}/${path}`, tree: (path: string) => treeOf(join(ftp.root, path)) },
];

describe('every scheme', () => {
  for (const remote of REMOTES) {
    test(`${remote.scheme}: cp up and down, ls, cat`, async () => {
      const base = `up-${remote.scheme}/`;
      // A local folder's content (trailing slash) lands in the remote folder, one line per file on stderr.
      const up = await fetch(['cp', './src/', remote.uri(base)]);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(up.stdout.toString(), 'copied 2 files (16 B)\n');
      assert.match(up.stderr, new RegExp(`^copied ${join(root, 'src/a.txt')} -> ${remote.uri(base)}a\\.txt \\(6 B\\)$`, 'm'));
      assert.deepEqual(await remote.tree(base), TREE);

      const listed = await json(['ls', '-r', remote.uri(base)]);
      assert.deepEqual(listed.map((e: any) => [e.type, e.path, e.size]), [['file', 'a.txt', 6], ['file', 'sub/b.txt', 10]]);
      const level = await json(['ls', remote.uri(base.slice(0, -1))]);
      assert.deepEqual(level.map((e: any) => [e.type, e.path, e.size]), [['file', 'a.txt', 6], ['folder', 'sub/', 10]]);
      assert.match(await ok(['ls', remote.uri(`${base}sub/b.txt`)]), /^ +10 {2}.{19} {2}b\.txt\n$/);

      // Without the slash, the folder itself comes down under its name.
      await ok(['cp', remote.uri(base.slice(0, -1)), `./down-${remote.scheme}`]);
      assert.deepEqual(await treeOf(join(root, `down-${remote.scheme}`, base.slice(0, -1))), TREE);
      assert.equal(await ok(['cat', remote.uri(`${base}sub/b.txt`)]), TREE['sub/b.txt']);
    });
  }

  test('remote to remote: s3 to ftp, ftps to s3', async () => {
    await ok(['cp', './src/', 's3://data/across/']);
    await ok(['cp', 's3://data/across/', `ftp://${ftp.host}/across/`]);
    assert.deepEqual(await treeOf(join(ftp.root, 'across')), TREE);
    await ok(['cp', `ftps://${ftp.host}/across/`, 's3://backup/across/']);
    assert.deepEqual(await s3Tree('backup', 'across/'), TREE);
  });

  test('http: ls and cp and cat of a file; no listing, no writes, no removals', async () => {
    const listed = await json(['ls', `${web}/notes.txt`]);
    assert.deepEqual(listed.map((e: any) => [e.path, e.size]), [['notes.txt', 17]]);
    await ok(['cp', `${web}/notes.txt`, './from-web/']);
    assert.equal(await readFile(join(root, 'from-web/notes.txt'), 'utf8'), 'served over http\n');
    assert.equal(await ok(['cat', `${web}/notes.txt`]), 'served over http\n');

    for (const args of [['ls', `${web}/`], ['cp', './src/', `${web}/up/`], ['rm', `${web}/notes.txt`], ['sync', './src/', `${web}/up/`]]) {
      const run = await fetch(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^labq: .*(no folder listing|takes no uploads or removals)/);
    }
    const missing = await fetch(['cat', `${web}/missing.txt`]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `labq: cannot read ${web}/missing.txt: HTTP 404 Not Found\n`);
  });
});

describe('cp', () => {
  test('one file to a file path, into a folder (trailing / or existing), and by its local path', async () => {
    await ok(['cp', './src/a.txt', 's3://data/one/renamed.txt']);
    await ok(['cp', 'src/a.txt', 's3://data/one/dir/']);
    await ok(['cp', join(root, 'src/sub/b.txt'), `ftp://${ftp.host}/one/b-copy.txt`]);
    assert.deepEqual(await s3Tree('data', 'one/'), { 'renamed.txt': TREE['a.txt'], 'dir/a.txt': TREE['a.txt'] });
    assert.equal(await readFile(join(ftp.root, 'one/b-copy.txt'), 'utf8'), TREE['sub/b.txt']);
    await mkdir(join(root, 'existing'));
    await ok(['cp', 's3://data/one/renamed.txt', 'existing']);
    assert.deepEqual(await treeOf(join(root, 'existing')), { 'renamed.txt': TREE['a.txt'] });
  });

  test('-j takes a whole number of 1 or more; a missing argument is a usage error', async () => {
    const zero = await fetch(['cp', '-j', '0', './src/', 's3://data/j/']);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--parallel <n>' argument '0' is invalid/);
    assert.equal((await fetch(['cp', './src/'])).code, 2);
    const one = await ok(['cp', '-j', '1', './src/', 's3://data/j/']);
    assert.equal(one, 'copied 2 files (16 B)\n');
  });
});

describe('sync', () => {
  test('copies only what differs, by size and date; --dry-run changes nothing; --delete removes the rest', async () => {
    const src = join(root, 'mirror-src');
    await writeTree(src, TREE);
    const first = await json(['sync', src, 's3://backup/mirror/']);
    assert.deepEqual(first, { copied: 2, bytes: 16, skipped: 0, deleted: 0, dry_run: false });
    assert.deepEqual(await json(['sync', src, 's3://backup/mirror/']), { copied: 0, bytes: 0, skipped: 2, deleted: 0, dry_run: false });

    // One file changes size, one is new, one keeps its size but is newer than the copy.
    await writeFile(join(src, 'a.txt'), 'alpha, longer\n');
    await writeFile(join(src, 'c.txt'), 'gamma\n');
    await writeFile(join(src, 'sub/b.txt'), 'BETA BETA\n');
    const later = new Date(Date.now() + 3600_000);
    await utimes(join(src, 'sub/b.txt'), later, later);
    await s3.client().send(new PutObjectCommand({ Bucket: 'backup', Key: 'mirror/stale.txt', Body: 'only in dst' }));

    const planned = await fetch(['sync', '--dry-run', '--delete', `${src}/`, 's3://backup/mirror/']);
    assert.equal(planned.code, 0, planned.stderr);
    assert.deepEqual(planned.stdout.toString().split('\n'), [
      `would copy ${src}/a.txt -> s3://backup/mirror/a.txt (14 B)`,
      `would copy ${src}/c.txt -> s3://backup/mirror/c.txt (6 B)`,
      `would copy ${src}/sub/b.txt -> s3://backup/mirror/sub/b.txt (10 B)`,
      'would delete s3://backup/mirror/stale.txt',
      'would copy 3 files (30 B), skip 0, delete 1',
      '',
    ]);
    assert.equal((await s3Tree('backup', 'mirror/'))['a.txt'], TREE['a.txt'], 'a dry run copies nothing');

    await writeFile(join(src, 'd.txt'), 'delta\n');
    await ok(['sync', src, 's3://backup/mirror/']);
    // Older than its copy again, so that it stays skipped.
    const earlier = new Date(Date.now() - 3600_000);
    await utimes(join(src, 'sub/b.txt'), earlier, earlier);
    const run = await fetch(['sync', '--delete', src, 's3://backup/mirror/']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.toString(), 'copied 0 files (0 B), skipped 4, deleted 1\n');
    assert.equal(run.stderr, 'deleted s3://backup/mirror/stale.txt\n');
    assert.deepEqual(await s3Tree('backup', 'mirror/'), {
      'a.txt': 'alpha, longer\n', 'c.txt': 'gamma\n', 'd.txt': 'delta\n', 'sub/b.txt': 'BETA BETA\n',
    });
  });

  test('over ftp and ftps (size alone: FTP listings carry no usable date), each way', async () => {
    const src = join(root, 'ftp-src');
    await writeTree(src, TREE);
    assert.equal(await ok(['sync', src, `ftp://${ftp.host}/mirror`]), 'copied 2 files (16 B), skipped 0, deleted 0\n');
    await writeFile(join(src, 'a.txt'), 'alpha!!\n');
    const run = await fetch(['sync', `${src}/`, `ftps://${ftp.host}/mirror/`]);
    assert.equal(run.stdout.toString(), 'copied 1 file (8 B), skipped 1, deleted 0\n');
    assert.match(run.stderr, new RegExp(`^copied ${src}/a\\.txt -> ftps://${ftp.host}/mirror/a\\.txt \\(8 B\\)\\n$`));
    await writeFile(join(ftp.root, 'mirror/new.txt'), 'from the other side\n');
    assert.equal(await ok(['sync', `ftp://${ftp.host}/mirror/`, './ftp-back/']), 'copied 3 files (38 B), skipped 0, deleted 0\n');
    assert.equal(await ok(['sync', `ftps://${ftp.host}/mirror`, './ftp-back']), 'copied 0 files (0 B), skipped 3, deleted 0\n');
  });
});

describe('rm', () => {
  for (const remote of REMOTES.filter((r) => r.scheme !== 'ftps')) {
    test(`${remote.scheme}: one file; a folder only with -r`, async () => {
      const base = `rm-${remote.scheme}/`;
      await ok(['cp', './src/', remote.uri(base)]);
      assert.equal(await ok(['rm', remote.uri(`${base}a.txt`)]), 'removed 1 file\n');
      assert.deepEqual(await remote.tree(base), { 'sub/b.txt': TREE['sub/b.txt'] });

      const refused = await fetch(['rm', remote.uri(base)]);
      assert.equal(refused.code, 1);
      assert.equal(refused.stderr, `labq: cannot remove ${remote.uri(base)}: it is a folder: give -r to remove every file under it\n`);
      assert.deepEqual(await remote.tree(base), { 'sub/b.txt': TREE['sub/b.txt'] });

      assert.equal(await ok(['rm', '-r', remote.uri(base.slice(0, -1))]), 'removed 1 file\n');
      assert.deepEqual(await remote.tree(base), {});
    });
  }

  test('ftps and local paths', async () => {
    await ok(['cp', './src/', `ftps://${ftp.host}/rm-ftps/`]);
    assert.deepEqual(await json(['rm', '-r', `ftps://${ftp.host}/rm-ftps/`]), { removed: 2 });
    assert.deepEqual(await treeOf(join(ftp.root, 'rm-ftps')), {});
    await ok(['cp', './src/', './rm-local/']);
    assert.equal(await ok(['rm', 'rm-local/a.txt']), 'removed 1 file\n');
    await assert.rejects(stat(join(root, 'rm-local/a.txt')));
    assert.equal(await ok(['rm', '-r', './rm-local']), 'removed 1 file\n');
    assert.deepEqual(await treeOf(join(root, 'rm-local')), {});
  });
});

describe('cat', () => {
  test('binary content whole, and a reader that stops early (| head) ends it quietly', async () => {
    const big = randomBytes(4 * 1024 * 1024);
    await writeFile(join(root, 'big.bin'), big);
    await ok(['cp', './big.bin', 's3://data/cat/']);
    const whole = await fetch(['cat', 's3://data/cat/big.bin']);
    assert.equal(whole.code, 0, whole.stderr);
    assert.ok(whole.stdout.equals(big), 'the bytes that come out are the bytes that went in');

    for (const uri of ['s3://data/cat/big.bin', `ftp://${ftp.host}/cat-big.bin`, './big.bin']) {
      if (uri.startsWith('ftp')) await ok(['cp', './big.bin', uri]);
      const head = await fetch(['cat', uri], (_chunk, stop) => stop());
      assert.equal(head.code, 0, `${uri}: ${head.stderr}`);
      assert.equal(head.stderr, '', uri);
    }
  });

  test('a folder is refused', async () => {
    const run = await fetch(['cat', './src/']);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `labq: cannot read ./src/: it is a folder: cat reads one file\n`);
  });
});

describe('interruption', () => {
  test('Ctrl-C stops a copy in flight with status 130 and leaves no partial file', async () => {
    const into = join(root, 'interrupted');
    const { child, done } = start(['cp', `${web}/stalls.bin`, './interrupted/']);
    // The partial file holds bytes: the copy is under way.
    for (;;) {
      // A partial file is named after its target and its writer: stalls.bin.<random>.part.
      const name = (await readdir(into).catch(() => [])).find((entry) => /^stalls\.bin\.[0-9a-f]+\.part$/.test(entry));
      const part = name ? await stat(join(into, name)).catch(() => undefined) : undefined;
      if (part && part.size > 0) break;
      assert.equal(child.exitCode, null, 'the copy is still running');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    const run = await done;
    assert.equal(run.code, 130);
    assert.equal(run.stderr, 'labq: interrupted\n');
    assert.deepEqual(await readdir(into), []);
  });
});

describe('errors', () => {
  test('credentials in a URI are refused without showing them, with status 2', async () => {
    for (const uri of ['s3://AKIDEXAMPLE:s3cr3t@data/x', `ftp://labq:s3cr3t@${ftp.host}/x`, `ftps://labq:s3cr3t@${ftp.host}/x`]) {
      const run = await fetch(['cp', uri, './creds/']);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /^labq: .*:\*\*\*@.*: credentials in a URI are refused/);
      assert.doesNotMatch(run.stderr, /s3cr3t|AKIDEXAMPLE/);
    }
    const dst = await fetch(['sync', './src/', 's3://KEY:s3cr3t@data/x/']);
    assert.equal(dst.code, 2);
    assert.doesNotMatch(dst.stderr, /s3cr3t/);
    await assert.rejects(stat(join(root, 'creds')), 'nothing was copied');
  });

  test('what is missing is named, with status 1', async () => {
    const cases: [string[], string][] = [
      [['cat', 's3://data/nope.txt'], 'labq: cannot read s3://data/nope.txt: no object nope.txt and no folder nope.txt/ in bucket data\n'],
      [['ls', `ftp://${ftp.host}/nope/`], `labq: cannot list ftp://${ftp.host}/nope/: no such file or folder: /nope/\n`],
      [['cp', './nope', './x/'], `labq: cannot copy ./nope to ./x/: no such file or folder: ${join(root, 'nope')}\n`],
      [['cp', './src/', 's3://nobucket/x/'], 'labq: cannot copy ./src/ to s3://nobucket/x/: NoSuchBucket: The specified bucket does not exist\n'],
    ];
    for (const [args, message] of cases) {
      const run = await fetch(args);
      assert.equal(run.code, 1, args.join(' '));
      assert.equal(run.stderr, message);
    }
  });
});
