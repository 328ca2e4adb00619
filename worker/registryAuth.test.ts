// Credentials come from a docker config the way `docker login` writes it.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dockerConfigCredentials } from './registryAuth.js';

test('reads auths from config.json, base64 user:password or explicit fields', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labq-docker-config-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({
    auths: {
      'ghcr.io': { auth: Buffer.from('alice:s3cr:et').toString('base64') },
      'registry.example:5000': { username: 'bob', password: 'pw' },
      'https://index.docker.io/v1/': {},
    },
  }));
  assert.deepEqual(await dockerConfigCredentials(dir), [
    { username: 'alice', password: 's3cr:et', serveraddress: 'ghcr.io' },
    { username: 'bob', password: 'pw', serveraddress: 'registry.example:5000' },
  ]);
  assert.deepEqual(await dockerConfigCredentials(join(dir, 'missing')), []);
});
