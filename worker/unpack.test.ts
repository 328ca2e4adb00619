// The resource steps with real archives, built here with node-tar, node:zlib and the
// byte-level writers of e2e/support/archives.ts (so hostile entries can be written at all),
// and no host tool: each step, chains through the resource cache, entries that would land
// outside the folder, damaged archives, an aborted step, and what `mv:DIR` accepts.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { create as createTar } from 'tar';
import { ARCHIVE_MTIME, tarArchive, zipArchive, type TarItem, type ZipItem } from '../e2e/support/archives.js';
import { parseResource, type ResourceStep } from '../shared/uri.js';
import { ResourceCache } from './resourceCache.js';
import { applyStep } from './unpack.js';

/** The entry the worker's resource cache in `dir` makes of `spec`. */
async function prepareResource(spec: string, dir: string): Promise<string> {
  const cache = new ResourceCache({ dir, log: () => undefined });
  await cache.open();
  return (await cache.prepare(spec)).dir;
}

let root: string;
/** Spans many read chunks, so entries cross chunk boundaries. */
const big = randomBytes(3 * 1024 * 1024 + 17);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'labq-unpack-test-'));
  const tree = join(root, 'tree');
  await mkdir(join(tree, 'bundle', 'sub'), { recursive: true });
  await writeFile(join(tree, 'bundle', 'ref.fa'), '>chr1\nACGT\n');
  await writeFile(join(tree, 'bundle', 'sub', 'ref.fai'), 'chr1\t4\n');
  await writeFile(join(tree, 'bundle', 'big.bin'), big);
  await createTar({ cwd: tree, file: join(root, 'bundle.tar'), portable: true }, ['bundle']);
  await createTar({ cwd: tree, file: join(root, 'bundle.tar.gz'), gzip: true, portable: true }, ['bundle']);
  await writeFile(join(root, 'hg38.fa.gz'), gzipSync('>chr1\nACGT\n'));
  await writeFile(join(root, 'notes.txt'), 'plain text, not an archive\n'.repeat(40));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh, empty folder beside the one a step writes into, to see whether anything escapes. */
async function place(): Promise<{ outDir: string; around: string }> {
  const around = await mkdtemp(join(root, 'case-'));
  const outDir = join(around, 'out');
  await mkdir(outDir);
  return { outDir, around };
}

const step = (text: string): ResourceStep => {
  const parsed = parseResource(`file:///x|${text}`);
  assert.ok(parsed.ok, text);
  return parsed.value.steps[0]!;
};

/** The files under `dir`, as sorted relative paths (folders end with /, links show their target). */
async function tree(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name).slice(dir.length + 1);
    if (entry.isSymbolicLink()) names.push(`${path} -> ${await readlink(join(dir, path))}`);
    else names.push(entry.isDirectory() ? `${path}/` : path);
  }
  return names.sort();
}

async function assertBundle(dir: string): Promise<void> {
  assert.deepEqual(await tree(dir), ['bundle/', 'bundle/big.bin', 'bundle/ref.fa', 'bundle/sub/', 'bundle/sub/ref.fai']);
  assert.equal(await readFile(join(dir, 'bundle', 'ref.fa'), 'utf8'), '>chr1\nACGT\n');
  assert.ok((await readFile(join(dir, 'bundle', 'big.bin'))).equals(big));
}

async function archive(name: string, content: Buffer): Promise<string> {
  const path = join(await mkdtemp(join(root, 'archive-')), name);
  await writeFile(path, content);
  return path;
}

const BUNDLE_ZIP: ZipItem[] = [
  { name: 'bundle/', mode: 0o040755 },
  { name: 'bundle/ref.fa', body: '>chr1\nACGT\n', deflate: true },
  { name: 'bundle/sub/ref.fai', body: 'chr1\t4\n' },
  { name: 'bundle/big.bin', body: big, deflate: true },
];

describe('each step', () => {
  test('gunzip streams the file out under its name without .gz', async () => {
    const { outDir } = await place();
    const result = await applyStep(step('gunzip'), join(root, 'hg38.fa.gz'), outDir);
    assert.equal(result, join(outDir, 'hg38.fa'));
    assert.equal(await readFile(result, 'utf8'), '>chr1\nACGT\n');
    assert.equal((await applyStep(step('gunzip'), join(root, 'bundle.tar.gz'), (await place()).outDir)).split('/').at(-1), 'bundle.tar');
  });

  test('untar extracts a tar, and a gzipped tar as tar -xf does', async () => {
    for (const name of ['bundle.tar', 'bundle.tar.gz']) {
      const { outDir } = await place();
      assert.equal(await applyStep(step('untar'), join(root, name), outDir), outDir);
      await assertBundle(outDir);
    }
  });

  test('untar keeps modification times and links inside the archive, and drops owners and setuid bits', async () => {
    const { outDir } = await place();
    const input = await archive('odd.tar', tarArchive([
      { path: 'bin/tool', body: '#!/bin/sh\n', mode: 0o6755 },
      { path: 'bin/shared', type: 'Directory', mode: 0o1777 },
      { path: 'ref/hg38.fa', body: '>chr1\n' },
      { path: 'ref/current.fa', type: 'SymbolicLink', linkpath: 'hg38.fa' },
      { path: 'bin/ref', type: 'SymbolicLink', linkpath: '../ref' },
      { path: 'ref/copy.fa', type: 'Link', linkpath: 'ref/hg38.fa' },
      { path: 'ref/pipe', type: 'FIFO' },
    ]));
    await applyStep(step('untar'), input, outDir);
    assert.deepEqual(await tree(outDir), [
      'bin/', 'bin/ref -> ../ref', 'bin/shared/', 'bin/tool', 'ref/', 'ref/copy.fa', 'ref/current.fa -> hg38.fa', 'ref/hg38.fa',
    ], 'the FIFO is skipped');
    const tool = await stat(join(outDir, 'bin', 'tool'));
    assert.equal(tool.mode & 0o7000, 0, 'no setuid or setgid bit');
    assert.equal(tool.mode & 0o100, 0o100, 'still executable');
    assert.equal((await stat(join(outDir, 'bin', 'shared'))).mode & 0o7000, 0, 'no sticky bit');
    assert.equal(tool.uid, process.getuid!(), 'not the owner the archive names');
    assert.equal(tool.mtime.getTime(), ARCHIVE_MTIME.getTime());
    assert.equal(await readFile(join(outDir, 'bin', 'ref', 'copy.fa'), 'utf8'), '>chr1\n');
  });

  test('unzip extracts stored and deflated entries, folders, inner links and modification times', async () => {
    const { outDir } = await place();
    const input = await archive('bundle.zip', zipArchive([
      ...BUNDLE_ZIP,
      { name: 'bundle/run.sh', body: 'echo\n', mode: 0o104755 },
      { name: 'bundle/current.fa', body: 'ref.fa', mode: 0o120777 },
    ]));
    assert.equal(await applyStep(step('unzip'), input, outDir), outDir);
    assert.deepEqual(await tree(outDir), [
      'bundle/', 'bundle/big.bin', 'bundle/current.fa -> ref.fa', 'bundle/ref.fa', 'bundle/run.sh', 'bundle/sub/', 'bundle/sub/ref.fai',
    ]);
    assert.ok((await readFile(join(outDir, 'bundle', 'big.bin'))).equals(big));
    assert.equal(await readFile(join(outDir, 'bundle', 'current.fa'), 'utf8'), '>chr1\nACGT\n');
    const run = await stat(join(outDir, 'bundle', 'run.sh'));
    assert.equal(run.mode & 0o7777, 0o755, 'executable, without its setuid bit');
    assert.equal(run.mtime.getTime(), ARCHIVE_MTIME.getTime());
  });

  test('mv moves a file under its name, or a folder\'s content, into a folder', async () => {
    const file = await place();
    const gunzipped = await applyStep(step('gunzip'), join(root, 'hg38.fa.gz'), file.around);
    assert.equal(await applyStep(step('mv:refs/hg38'), gunzipped, file.outDir), join(file.outDir, 'refs', 'hg38', 'hg38.fa'));
    assert.deepEqual(await tree(file.outDir), ['refs/', 'refs/hg38/', 'refs/hg38/hg38.fa']);

    const folder = await place();
    const extracted = join(folder.around, 'extracted');
    await mkdir(extracted);
    await applyStep(step('untar'), join(root, 'bundle.tar'), extracted);
    assert.equal(await applyStep(step('mv:hg38'), extracted, folder.outDir), join(folder.outDir, 'hg38'));
    await assertBundle(join(folder.outDir, 'hg38'));
  });
});

describe('chains through the resource cache', () => {
  const uri = (name: string) => pathToFileURL(name.startsWith('/') ? name : join(root, name)).href;

  test('gunzip|mv:hg38 gives hg38/hg38.fa', async () => {
    const entry = await prepareResource(`${uri('hg38.fa.gz')}|gunzip|mv:hg38`, await mkdtemp(join(root, 'cache-')));
    assert.deepEqual(await tree(entry), ['hg38/', 'hg38/hg38.fa']);
    assert.equal(await readFile(join(entry, 'hg38', 'hg38.fa'), 'utf8'), '>chr1\nACGT\n');
  });

  test('a .tar.gz with gunzip|untar, or untar alone, gives the same tree', async () => {
    const cache = await mkdtemp(join(root, 'cache-'));
    await assertBundle(await prepareResource(`${uri('bundle.tar.gz')}|gunzip|untar`, cache));
    await assertBundle(await prepareResource(`${uri('bundle.tar.gz')}|untar`, cache));
  });

  test('unzip|mv:x and untar|mv:x put the archive\'s content under x', async () => {
    const cache = await mkdtemp(join(root, 'cache-'));
    const zip = await archive('bundle.zip', zipArchive(BUNDLE_ZIP));
    for (const spec of [`${uri(zip)}|unzip|mv:x`, `${uri('bundle.tar.gz')}|untar|mv:x`]) {
      const entry = await prepareResource(spec, cache);
      assert.deepEqual(await readdir(entry), ['x'], spec);
      await assertBundle(join(entry, 'x'));
    }
  });

  test('after a folder URI, mv takes the folder itself, or its content with the trailing slash (rsync\'s rule)', async () => {
    const cache = await mkdtemp(join(root, 'cache-'));
    assert.deepEqual(await tree(await prepareResource(`${uri('tree/bundle')}/|mv:x`, cache)), ['x/', 'x/big.bin', 'x/ref.fa', 'x/sub/', 'x/sub/ref.fai']);
    assert.deepEqual(await tree(await prepareResource(`${uri('tree/bundle')}|mv:x`, cache)),
      ['x/', 'x/bundle/', 'x/bundle/big.bin', 'x/bundle/ref.fa', 'x/bundle/sub/', 'x/bundle/sub/ref.fai']);
  });
});

describe('entries that would land outside the folder fail the step, and nothing escapes', () => {
  const outside = `labq-escaped-${process.pid}`;
  const tarCase = (label: string, items: TarItem[], error: RegExp) => ({ label, step: 'untar', content: tarArchive(items), error });
  const zipCase = (label: string, items: ZipItem[], error: RegExp) => ({ label, step: 'unzip', content: zipArchive(items), error });
  const CASES = [
    tarCase('a path with ..', [{ path: 'ok.txt', body: 'ok' }, { path: `../${outside}`, body: 'evil' }], /entry \.\.\/labq-escaped-\d+ climbs out/),
    tarCase('a path with .. in the middle', [{ path: `sub/../../${outside}`, body: 'evil' }], /climbs out/),
    tarCase('an absolute path', [{ path: `/tmp/${outside}`, body: 'evil' }], /has an absolute path/),
    tarCase('a link to an absolute path', [{ path: 'passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }], /link passwd -> \/etc\/passwd points outside/),
    tarCase('a link that climbs out', [{ path: 'a/up', type: 'SymbolicLink', linkpath: '../../..' }], /link a\/up -> \.\.\/\.\.\/\.\. points outside/),
    tarCase('a hard link out', [{ path: 'h', type: 'Link', linkpath: `../${outside}` }], /hard link h -> \.\.\/labq-escaped-\d+ points outside/),
    tarCase(
      'a file written through a link',
      [{ path: 'sub', type: 'Directory' }, { path: 'l', type: 'SymbolicLink', linkpath: 'sub' }, { path: 'l/x.txt', body: 'through' }],
      /symbolic link/i,
    ),
    zipCase('a path with ..', [{ name: 'ok.txt', body: 'ok' }, { name: `../${outside}`, body: 'evil' }], /invalid relative path: \.\.\/labq-escaped/),
    zipCase('an absolute path', [{ name: `/tmp/${outside}`, body: 'evil' }], /absolute path: \/tmp\/labq-escaped/),
    zipCase('a link to an absolute path', [{ name: 'passwd', body: '/etc/passwd', mode: 0o120777 }], /link passwd -> \/etc\/passwd points outside/),
    zipCase('a link that climbs out', [{ name: 'a/up', body: '../..', mode: 0o120777 }], /link a\/up -> \.\.\/\.\. points outside/),
    zipCase(
      'a file written through a link',
      [{ name: 'sub/', mode: 0o040755 }, { name: 'l', body: 'sub', mode: 0o120777 }, { name: 'l/x.txt', body: 'through' }],
      /entry l\/x\.txt would be written through the link l/,
    ),
    zipCase(
      'a file over a link',
      [{ name: 'sub/', mode: 0o040755 }, { name: 'l', body: 'sub/target', mode: 0o120777 }, { name: 'l', body: 'over' }],
      /EEXIST/,
    ),
  ];
  for (const c of CASES) {
    test(`${c.step}: ${c.label}`, async () => {
      const { outDir, around } = await place();
      const input = await archive('hostile', c.content);
      await assert.rejects(applyStep(step(c.step), input, outDir), (e: Error) => {
        assert.match(e.message, new RegExp(`^the ${c.step} step failed on hostile: `));
        assert.match(e.message, c.error);
        return true;
      });
      assert.deepEqual(await readdir(around), ['out']);
      await assert.rejects(lstat(join('/tmp', outside)), { code: 'ENOENT' });
      assert.deepEqual((await tree(outDir)).filter((p) => p === 'sub/x.txt' || p === 'sub/target'), [], 'nothing written through a link');
    });
  }
});

describe('damaged or wrong input fails with a clear reason', () => {
  const tarBytes = tarArchive([{ path: 'a.txt', body: 'x'.repeat(3000) }, { path: 'b.txt', body: 'y' }]);
  const corruptHeader = Buffer.from(tarBytes);
  corruptHeader[512 * 7 + 10] ^= 0xff;
  const gz = gzipSync(big);
  const CASES: { label: string; step: string; name: string; content: Buffer; error: RegExp }[] = [
    { label: 'untar of a text file', step: 'untar', name: 'notes.txt', content: Buffer.from('plain text\n'.repeat(100)), error: /^the untar step failed on notes\.txt: not a tar archive/ },
    { label: 'untar of a cut tar', step: 'untar', name: 'cut.tar', content: tarBytes.subarray(0, 1024), error: /^the untar step failed on cut\.tar: .*Truncated input/ },
    { label: 'untar of a damaged header', step: 'untar', name: 'bad.tar', content: corruptHeader, error: /^the untar step failed on bad\.tar: .*checksum failure/ },
    { label: 'untar of a cut tar.gz', step: 'untar', name: 'cut.tar.gz', content: gzipSync(tarBytes).subarray(0, 60), error: /^the untar step failed on cut\.tar\.gz: truncated gzip data/ },
    { label: 'gunzip of a text file', step: 'gunzip', name: 'notes.txt.gz', content: Buffer.from('plain text\n'), error: /^the gunzip step failed on notes\.txt\.gz: not gzip data, or corrupt \(incorrect header check\)/ },
    { label: 'gunzip of a cut file', step: 'gunzip', name: 'cut.gz', content: gz.subarray(0, gz.length >> 1), error: /^the gunzip step failed on cut\.gz: truncated gzip data/ },
    { label: 'unzip of a text file', step: 'unzip', name: 'notes.zip', content: Buffer.from('plain text\n'), error: /^the unzip step failed on notes\.zip: not a zip archive/ },
    {
      label: 'unzip of an entry whose CRC differs',
      step: 'unzip', name: 'crc.zip', content: zipArchive([{ name: 'a.txt', body: 'data', crc: 1234 }]),
      error: /^the unzip step failed on crc\.zip: entry a\.txt is corrupt: its CRC-32 does not match/,
    },
  ];
  for (const c of CASES) {
    test(c.label, async () => {
      const { outDir } = await place();
      await assert.rejects(applyStep(step(c.step), await archive(c.name, c.content), outDir), (e: Error) => {
        assert.match(e.message, c.error);
        return true;
      });
    });
  }

  test('unzip of damaged deflated data', async () => {
    const content = zipArchive([{ name: 'a.bin', body: big, deflate: true }]);
    content[30 + 'a.bin'.length] = 0xff; // the first deflate block gets a type that does not exist
    await assert.rejects(
      applyStep(step('unzip'), await archive('bad.zip', content), (await place()).outDir),
      /^Error: the unzip step failed on bad\.zip: corrupt compressed data \(invalid block type\)$/,
    );
  });

  test('an archive step on a folder says the step needs a file', async () => {
    await assert.rejects(applyStep(step('untar'), root, (await place()).outDir), /^Error: the untar step needs a file, but was given a folder$/);
  });

  test('a failed resource leaves nothing in the cache', async () => {
    const cache = await mkdtemp(join(root, 'cache-'));
    await assert.rejects(prepareResource(`${pathToFileURL(join(root, 'notes.txt')).href}|untar`, cache), /the untar step failed on notes\.txt: not a tar archive/);
    assert.deepEqual(await readdir(cache), []);
  });
});

test('an aborted step stops with the abort', async () => {
  const zip = await archive('bundle.zip', zipArchive(BUNDLE_ZIP));
  for (const [text, input] of [['gunzip', join(root, 'hg38.fa.gz')], ['untar', join(root, 'bundle.tar.gz')], ['unzip', zip]] as const) {
    await assert.rejects(applyStep(step(text), input, (await place()).outDir, AbortSignal.abort()), { name: 'AbortError' }, text);
  }
});

describe('mv:DIR', () => {
  test('accepts a relative folder, nested or not', () => {
    for (const [text, dir] of [['mv:hg38', 'hg38'], ['mv:refs/hg38', 'refs/hg38'], ['mv:a:b', 'a:b'], ['mv:.hidden', '.hidden']]) {
      const parsed = parseResource(`s3://refs/hg38.fa.gz|gunzip|${text}`);
      assert.ok(parsed.ok, text);
      assert.deepEqual(parsed.value.steps, [{ kind: 'gunzip' }, { kind: 'mv', dir }]);
    }
  });

  test('refuses what is not a folder inside the resource, and says why', () => {
    const CASES: [string, RegExp][] = [
      ['mv', /the mv step needs a folder: mv:DIR/],
      ['mv:', /the folder of "mv:" is empty/],
      ['mv:/etc', /the folder of "mv:\/etc" must be relative to \/resource, without a leading \//],
      ['mv:..', /may not climb out of \/resource with \.\./],
      ['mv:a/../..', /may not climb out/],
      ['mv:a//b', /has an empty or "\." segment/],
      ['mv:a/', /has an empty or "\." segment/],
      ['mv:./a', /has an empty or "\." segment/],
      ['mv:a\0b', /contains a NUL character/],
      ['mv:a|gunzip', /the mv step comes last/],
      ['untar:x', /the untar step takes no argument, but got "untar:x"/],
      ['explode', /unknown resource step "explode": expected one of gunzip, untar, unzip, mv:DIR/],
    ];
    for (const [text, error] of CASES) {
      const parsed = parseResource(`s3://refs/hg38.tar.gz|${text}`);
      assert.ok(!parsed.ok, text);
      assert.match(parsed.error, error, text);
    }
  });
});
