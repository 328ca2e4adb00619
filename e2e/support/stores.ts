// Data stores for transfer tests, started by the tests themselves (npm dev dependencies, no
// Docker image): an S3 server (s3rver) and an FTP server (ftp-srv), each on a free port of
// 127.0.0.1 with a temporary root directory that is removed when it stops. The FTP server
// speaks explicit TLS (ftps://) on request, with a self-signed certificate made here (no
// openssl needed) that a client trusts through NODE_EXTRA_CA_CERTS, and can cut a download
// halfway as a server that goes away does.
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import { createSecureContext, TLSSocket } from 'node:tls';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { FileSystem, FtpSrv, type FtpConnection } from 'ftp-srv';
import S3rver from 's3rver';
import { generate } from 'selfsigned';

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
  /** With `tls`: the PEM file of the server's certificate, for NODE_EXTRA_CA_CERTS. */
  certificate?: string;
  stop(): Promise<void>;
}

export interface TestFtpOptions {
  /** Takes AUTH TLS (explicit FTPS, control and data connections) with a certificate for 127.0.0.1. */
  tls?: boolean;
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
  if (options.tls) closeAuthTlsRace();
  const tls = options.tls ? await selfSigned(join(base, 'cert.pem')) : undefined;
  // ftp-srv checks that a data port is free and listens on it a moment later; every server
  // starting at its default of 1024, two on this machine (parallel test files) can take the
  // same port in between, and a client then reaches the other's data connection.
  const pasvMin = 10_000 + 100 * randomInt(200);
  const server = new FtpSrv({
    url: 'ftp://127.0.0.1:0', pasv_url: '127.0.0.1', pasv_min: pasvMin, pasv_max: pasvMin + 99,
    anonymous: false, greeting: 'labq test', log: silentLog(),
    tls: tls ? { key: tls.key, cert: tls.cert } : false,
  });
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
    certificate: tls?.file,
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

interface FtpSrvConnection {
  server: { options: { tls?: object | false } };
  commandSocket: NodeJS.EventEmitter & { write(text: string): boolean };
  secure: boolean;
}
type CommandHandler = (this: FtpSrvConnection, request: { command: { arg?: string } }) => Promise<unknown>;

/**
 * ftp-srv 4.6.3 answers AUTH TLS with 234 and only wraps its socket in TLS once that write is
 * done: a client quick enough sends its TLS hello in between, ftp-srv reads it as a command and
 * answers it in plain text, and the client fails with "wrong version number" (seen once in a
 * few runs of four parallel connections). Here the answer is written and the socket wrapped in
 * the same tick, before any byte of the client can be read.
 */
function closeAuthTlsRace(): void {
  const registry = createRequire(import.meta.url)('ftp-srv/src/commands/registry.js') as Record<string, { handler: CommandHandler }>;
  const auth = registry.AUTH!;
  const original = auth.handler;
  if ((original as { patched?: boolean }).patched) return;
  const handler: CommandHandler = function (request) {
    if ((request.command.arg ?? '').toUpperCase() !== 'TLS' || !this.server.options.tls || this.secure) return original.call(this, request);
    const plain = this.commandSocket;
    plain.write('234 Honored\r\n');
    const secure = new TLSSocket(plain as never, { isServer: true, secureContext: createSecureContext(this.server.options.tls) });
    // As ftp-srv does: its listeners are on the plain socket.
    for (const event of ['data', 'timeout', 'end', 'close', 'drain', 'error']) secure.on(event, (...args: unknown[]) => plain.emit(event, ...args));
    this.commandSocket = secure as never;
    this.secure = true;
    return Promise.resolve();
  };
  auth.handler = Object.assign(handler, { patched: true });
}

/** A certificate for 127.0.0.1 (as its subjectAltName, which TLS clients check), written to `file`. */
async function selfSigned(file: string): Promise<{ key: string; cert: string; file: string }> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  await writeFile(file, pems.cert);
  return { key: pems.private, cert: pems.cert, file };
}

/** ftp-srv logs through bunyan by default: a logger that drops everything keeps test output readable. */
function silentLog(): never {
  const log: Record<string, unknown> = {};
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level] = () => undefined;
  log.child = () => log;
  return log as never;
}
