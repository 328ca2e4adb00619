// Archives written byte by byte, for the tests of a resource's actions: they can hold what
// no archiver would write (entries with `..` or absolute paths, links out, setuid bits), and
// need no host tool. Headers come from node-tar's own Header class; zips are assembled here.
import { crc32, deflateRawSync } from 'node:zlib';
import { Header } from 'tar';

/** The modification time of every entry (even seconds: a zip keeps two-second steps). */
export const ARCHIVE_MTIME = new Date('2024-05-06T07:08:10Z');

export interface TarItem {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'FIFO';
  body?: string;
  linkpath?: string;
  mode?: number;
}

/** A tar archive written block by block, so that it can hold what no archiver would write. */
export function tarArchive(items: TarItem[]): Buffer {
  const blocks: Buffer[] = [];
  for (const { path, type = 'File', body = '', linkpath, mode = 0o644 } of items) {
    const data = Buffer.from(body);
    const header = new Header({ path, type, linkpath, mode, size: data.length, uid: 12345, gid: 12345, mtime: ARCHIVE_MTIME });
    header.encode();
    blocks.push(header.block!, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export interface ZipItem {
  name: string;
  body?: string | Buffer;
  /** The Unix mode, file type included: a link is 0o120777. */
  mode?: number;
  deflate?: boolean;
  /** Stored instead of the real CRC-32, to damage the entry. */
  crc?: number;
}

/** A zip archive (Unix attributes, no data descriptors), so that it can hold what no archiver would write. */
export function zipArchive(items: ZipItem[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const time = (ARCHIVE_MTIME.getHours() << 11) | (ARCHIVE_MTIME.getMinutes() << 5) | (ARCHIVE_MTIME.getSeconds() / 2);
  const date = ((ARCHIVE_MTIME.getFullYear() - 1980) << 9) | ((ARCHIVE_MTIME.getMonth() + 1) << 5) | ARCHIVE_MTIME.getDate();
  for (const { name, body = '', mode = 0o100644, deflate = false, crc } of items) {
    const raw = Buffer.from(body);
    const data = deflate ? deflateRawSync(raw) : raw;
    const nameBytes = Buffer.from(name);
    const fields = (header: Buffer, at: number) => {
      header.writeUInt16LE(deflate ? 8 : 0, at);
      header.writeUInt16LE(time, at + 2);
      header.writeUInt16LE(date, at + 4);
      header.writeUInt32LE(crc ?? crc32(raw), at + 6);
      header.writeUInt32LE(data.length, at + 10);
      header.writeUInt32LE(raw.length, at + 14);
      header.writeUInt16LE(nameBytes.length, at + 18);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    fields(local, 8);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    fields(central, 10);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(items.length, 8);
  end.writeUInt16LE(items.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
