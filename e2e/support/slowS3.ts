// An S3 object that takes a while to download, for the tests of transfer figures: s3rver
// holds `size` random bytes, reached through a TCP proxy that moves `bytesPerSecond`, and
// the environment of this process (where an in-process worker reads its S3 endpoint, as a
// `labq worker` would) points at the proxy until `stop`.
import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestS3 } from './stores.js';
import { TcpProxy } from './tcpProxy.js';

export interface SlowS3Object {
  /** `s3://bucket/key`. */
  url: string;
  stop(): Promise<void>;
}

export async function slowS3Object(bucket: string, key: string, size: number, bytesPerSecond: number): Promise<SlowS3Object> {
  const savedEnv = { ...process.env };
  const s3 = await startTestS3([bucket]);
  const store = s3.client();
  await store.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: randomBytes(size) }));
  store.destroy();
  const link = new TcpProxy(Number(new URL(s3.endpoint).port), { bytesPerSecond });
  await link.restore();
  Object.assign(process.env, s3.env, { AWS_ENDPOINT_URL: link.url });
  return {
    url: `s3://${bucket}/${key}`,
    async stop() {
      await link.cut();
      await s3.stop();
      process.env = savedEnv;
    },
  };
}
