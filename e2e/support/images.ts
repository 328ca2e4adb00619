// The Docker image the tests run tasks in, built locally because test machines reach no image
// registry: Debian's statically linked busybox plus one symlink per applet, imported as a
// single-layer image. Built once per engine and reused while it exists.

import { execFile } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';

export const TEST_IMAGE = 'labq-test/busybox:latest';

/** Where Debian's busybox-static puts it (scripts/ensure-docker.sh installs it). */
const BUSYBOX = '/bin/busybox';

/** Applets the tests rely on; `trap` is a builtin of busybox sh. */
const NEEDED_APPLETS = ['sh', 'sleep', 'cat', 'echo', 'yes', 'head', 'dd', 'ls', 'id', 'env', 'mkdir', 'wc', 'true', 'false', 'kill', 'sha256sum'];

const builds = new WeakMap<Dockerode, Promise<string>>();

/** Returns the name of the test image, importing it first if the engine lacks it. */
export function ensureTestImage(docker: Dockerode = new Dockerode()): Promise<string> {
  let build = builds.get(docker);
  if (!build) {
    build = buildIfMissing(docker);
    builds.set(docker, build);
    build.catch(() => builds.delete(docker)); // let a later call retry
  }
  return build;
}

async function buildIfMissing(docker: Dockerode): Promise<string> {
  try {
    await docker.getImage(TEST_IMAGE).inspect();
    return TEST_IMAGE;
  } catch (err) {
    const e = err as { statusCode?: number; message: string };
    if (e.statusCode !== 404) {
      throw new Error(`Docker engine unreachable (${e.message}); run scripts/ensure-docker.sh to install and start it`);
    }
  }
  await assertStatic(BUSYBOX);
  const { stdout } = await promisify(execFile)(BUSYBOX, ['--list']);
  const applets = stdout.split('\n').filter((a) => a && a !== 'busybox');
  const missing = NEEDED_APPLETS.filter((a) => !applets.includes(a));
  if (missing.length > 0) throw new Error(`${BUSYBOX} lacks applets: ${missing.join(', ')}`);

  const tar = new TarWriter();
  for (const dir of ['bin', 'etc', 'root', 'home']) tar.dir(dir, 0o755);
  tar.dir('tmp', 0o1777);
  tar.file('bin/busybox', await readFile(BUSYBOX), 0o755);
  for (const applet of applets) tar.symlink(`bin/${applet}`, 'busybox');
  // Names for the ids tests run as, so `id` and `ls -l` print them.
  tar.file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n'), 0o644);
  tar.file('etc/group', Buffer.from('root:x:0:\nnogroup:x:65534:\n'), 0o644);

  const [repo, tag] = TEST_IMAGE.split(':');
  const progress = await docker.importImage(Readable.from([tar.finish()]), {
    repo, tag, changes: ['ENV PATH=/bin', 'CMD ["sh"]'],
  });
  await new Promise<void>((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      progress,
      (err) => (err || failure ? reject(new Error(`cannot import ${TEST_IMAGE}: ${err?.message ?? failure}`)) : resolve()),
      (event: { error?: string }) => { failure ??= event.error; },
    );
  });
  return TEST_IMAGE;
}

/** A dynamically linked busybox (Debian's `busybox` package) cannot run in an image without libc. */
async function assertStatic(path: string): Promise<void> {
  const file = await open(path).catch(() => {
    throw new Error(`${path} not found; install busybox-static (scripts/ensure-docker.sh does)`);
  });
  try {
    const header = Buffer.alloc(64);
    await file.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[5] !== 1) throw new Error(`${path} is not a little-endian ELF file`);
    const is64 = header[4] === 2;
    const phoff = is64 ? Number(header.readBigUInt64LE(0x20)) : header.readUInt32LE(0x1c);
    const phentsize = header.readUInt16LE(is64 ? 0x36 : 0x2a);
    const phnum = header.readUInt16LE(is64 ? 0x38 : 0x2c);
    const table = Buffer.alloc(phentsize * phnum);
    await file.read(table, 0, table.length, phoff);
    const PT_INTERP = 3;
    for (let i = 0; i < phnum; i++) {
      if (table.readUInt32LE(i * phentsize) === PT_INTERP) {
        throw new Error(`${path} is dynamically linked; install busybox-static (scripts/ensure-docker.sh does)`);
      }
    }
  } finally {
    await file.close();
  }
}

/** Just enough of POSIX ustar to describe a tiny root filesystem, owned by root. */
class TarWriter {
  private readonly blocks: Buffer[] = [];

  dir(name: string, mode: number): void {
    this.entry(`${name}/`, mode, '5', Buffer.alloc(0));
  }

  file(name: string, data: Buffer, mode: number): void {
    this.entry(name, mode, '0', data);
  }

  symlink(name: string, target: string): void {
    this.entry(name, 0o777, '2', Buffer.alloc(0), target);
  }

  finish(): Buffer {
    return Buffer.concat([...this.blocks, Buffer.alloc(1024)]);
  }

  private entry(name: string, mode: number, type: string, data: Buffer, link = ''): void {
    if (name.length > 100) throw new Error(`tar entry name too long: ${name}`);
    const header = Buffer.alloc(512);
    const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0') + '\0';
    header.write(name, 0);
    header.write(octal(mode, 8), 100);
    header.write(octal(0, 8), 108);
    header.write(octal(0, 8), 116);
    header.write(octal(data.length, 12), 124);
    header.write(octal(0, 12), 136);
    header.write(' '.repeat(8), 148); // the checksum is computed with its own field as spaces
    header.write(type, 156);
    header.write(link, 157);
    header.write('ustar\u000000', 257, 'binary');
    header.write('root', 265);
    header.write('root', 297);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(octal(sum, 7) + ' ', 148);
    this.blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
}
