// S3 throughput of labq's transfer engine for one large file (1 GiB unless LABQ_BENCH_MB says
// otherwise), up and down, against a local S3 server in its own process; beside the same
// transfers made as the AWS CLI makes them, with @aws-sdk/lib-storage for the upload (5 MiB
// parts, 4 at a time) and one streamed GetObject for the download. Alternates the two
// twice and prints MiB/s and the peak RSS of this process.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { download, upload } from '../worker/transfers.js';
import { report } from './support.js';

const MB = Number(process.env.LABQ_BENCH_MB ?? 1024);
const SIZE = MB * 1024 * 1024;

const dir = await mkdtemp(join(tmpdir(), 'labq-bench-transfers-'));
const server = spawn(process.execPath, [new URL('./s3Server.js', import.meta.url).pathname, 'bench'], { stdio: ['ignore', 'pipe', 'inherit'] });
const endpoint = await new Promise<string>((resolve) => server.stdout!.once('data', (data: Buffer) => resolve(data.toString().trim())));
Object.assign(process.env, { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1' });

try {
  const source = join(dir, 'up');
  await mkdir(source);
  await writeRandom(join(source, 'big.bin'), SIZE);
  console.log(`${MB} MiB, S3 server ${endpoint} (s3rver, its own process)`);
  for (let round = 1; round <= 2; round++) {
    await timed(`labq upload (engine), round ${round}`, () => upload(source, `s3://bench/labq-${round}/`));
    await timed(`lib-storage upload (baseline), round ${round}`, () =>
      new Upload({ client, params: { Bucket: 'bench', Key: `sdk-${round}/big.bin`, Body: createReadStream(join(source, 'big.bin')) } }).done());
    const down = join(dir, `down-${round}`);
    await timed(`labq download (engine), round ${round}`, () => download(`s3://bench/labq-${round}/big.bin`, join(down, 'labq')));
    await timed(`GetObject download (baseline), round ${round}`, async () => {
      await mkdir(join(down, 'sdk'), { recursive: true });
      const response = await client.send(new GetObjectCommand({ Bucket: 'bench', Key: `sdk-${round}/big.bin` }));
      await pipeline(response.Body as Readable, createWriteStream(join(down, 'sdk', 'big.bin')));
    });
    await rm(down, { recursive: true, force: true });
  }
  report('peak RSS of the client process', process.resourceUsage().maxRSS / 1024, 'MiB');
} finally {
  client.destroy();
  server.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
}

async function timed(name: string, work: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await work();
  report(name, MB / ((performance.now() - started) / 1000), 'MiB/s');
}

async function writeRandom(path: string, size: number): Promise<void> {
  let left = size;
  await pipeline(Readable.from((function* () {
    while (left > 0) {
      const chunk = Buffer.allocUnsafe(Math.min(left, 1024 * 1024));
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
      left -= chunk.length;
      yield chunk;
    }
  })()), createWriteStream(path));
}
