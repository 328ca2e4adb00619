// Data stores for transfer tests, started by the tests themselves (npm dev dependencies, no
// Docker image): an S3 server (s3rver) and an FTP server (ftp-srv), each on a free port of
// 127.0.0.1 with a temporary root directory that is removed when it stops.
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { FileSystem, FtpSrv, type FtpConnection } from 'ftp-srv';
import S3rver from 's3rver';

export interface TestS3 {
  /** http://127.0.0.1:PORT, for AWS_ENDPOINT_URL. */
  endpoint: string;
  /** The credentials s3rver accepts (any are, but the SDK needs some). */
  env: Record<string, string>;
  /** The folder holding the buckets' data, in s3rver's own layout. */
  root: string;
  /** A client of this server, for a test to put and check objects (destroy it when done). */
  client(): S3Client;
  stop(): Promise<void>;
}

/** An S3 server with the given buckets, path-style on a free port. */
export async function startTestS3(buckets: string[]): Promise<TestS3> {
  const root = await mkdtemp(join(tmpdir(), 'labq-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory: root, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    env: { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    root,
    client: () => new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }),
    stop: async () => {
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface TestFtp {
  /** 127.0.0.1:PORT, for ftp:// URIs. */
  host: string;
  /** The folder the FTP user sees as /: tests put and check files here directly. */
  root: string;
  user: string;
  password: string;
  /** A ~/.netrc line with the user's credentials. */
  netrc: string;
  stop(): Promise<void>;
}

export interface TestFtpOptions {
  /**
   * Paths (as the client names them) whose first download the server cuts halfway, closing
   * the whole session as a server that goes away does.
   */
  cutFirstReadOf?: string[];
}

/** An FTP server with one user (random password) whose root is a fresh temporary folder. */
export async function startTestFtp(options: TestFtpOptions = {}): Promise<TestFtp> {
  const base = await mkdtemp(join(tmpdir(), 'labq-ftp-'));
  const root = join(base, 'root');
  await mkdir(root);
  const user = 'labq';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const server = new FtpSrv({ url: 'ftp://127.0.0.1:0', pasv_url: '127.0.0.1', anonymous: false, greeting: 'labq test', log: silentLog() });
  const toCut = new Set(options.cutFirstReadOf ?? []);
  server.on('login', ({ connection, username, password: given }, resolve, reject) => {
    if (username === user && given === password) resolve({ root, fs: new CuttingFileSystem(connection, { root, cwd: '/' }, toCut) });
    else reject(new Error('bad credentials'));
  });
  await server.listen();
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  const host = `127.0.0.1:${port}`;
  return {
    host,
    root,
    user,
    password,
    netrc: `machine 127.0.0.1 login ${user} password ${password}\n`,
    stop: async () => {
      await server.close();
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** ftp-srv's file system, but the first read of a path in `toCut` stops halfway and the session drops. */
class CuttingFileSystem extends FileSystem {
  constructor(connection: FtpConnection, where: { root: string; cwd: string }, private readonly toCut: Set<string>) {
    super(connection, where);
  }

  override async read(fileName: string, options: { start?: unknown }): Promise<unknown> {
    const opened = await super.read(fileName, options as { start?: never }) as { stream: Readable; clientPath: string };
    if (!this.toCut.delete(fileName)) return opened;
    const { size } = await stat((opened.stream as unknown as { path: string }).path);
    let sent = 0;
    const cut = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        if (sent + chunk.length < size / 2) {
          sent += chunk.length;
          return done(null, chunk);
        }
        done(null, chunk.subarray(0, Math.max(0, Math.floor(size / 2) - sent)));
        (this.connection as unknown as { commandSocket: Socket }).commandSocket.destroy();
        cut.destroy(new Error('cut by the test'));
      },
    });
    return { stream: opened.stream.pipe(cut), clientPath: opened.clientPath };
  }
}

/** ftp-srv logs through bunyan by default: a logger that drops everything keeps test output readable. */
function silentLog(): never {
  const log: Record<string, unknown> = {};
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level] = () => undefined;
  log.child = () => log;
  return log as never;
}
