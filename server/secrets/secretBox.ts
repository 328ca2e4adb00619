// The server's key for secrets, and the cipher: AES-256-GCM with a random 96-bit nonce per
// value and the secret's name as authenticated data (a value copied to another row does not
// decrypt). The key comes from LABQ_SECRET_KEY (base64 of 32 bytes) or, when that is unset,
// from the file `secret-key` in the server's data directory, made (mode 0600) the first time
// a server starts there. The database only ever holds ciphertexts and the key's id, a hash
// of it: whoever reads the database (or a dump, or a backup) without the key reads no secret.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'slonik';
import type { Db } from '../db/pool.js';
import { ProblemError } from '../errors.js';

const KEY_BYTES = 32;
const NONCE_BYTES = 12;

export interface Sealed {
  ciphertext: Buffer;
  nonce: Buffer;
  auth_tag: Buffer;
  key_id: string;
}

export const secretKeyFile = (dataDir: string) => join(dataDir, 'secret-key');

function decodeKey(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_BYTES || !/^[A-Za-z0-9+/]+=*$/.test(text.trim())) {
    throw new Error(`${where} must hold the base64 of ${KEY_BYTES} random bytes (e.g. the output of \`openssl rand -base64 32\`)`);
  }
  return key;
}

const keyIdOf = (key: Buffer) => createHash('sha256').update('labq secret key\0').update(key).digest('hex').slice(0, 16);

export class SecretBox {
  readonly keyId: string | null;

  constructor(private readonly key: Buffer | null, readonly source: string) {
    this.keyId = key ? keyIdOf(key) : null;
  }

  private need(): Buffer {
    if (!this.key) {
      throw new ProblemError(503, 'Service unavailable', 'this server has no key for secrets: start it with LABQ_SECRET_KEY, or with a data directory');
    }
    return this.key;
  }

  seal(name: string, value: string): Sealed {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.need(), nonce);
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return { ciphertext, nonce, auth_tag: cipher.getAuthTag(), key_id: this.keyId! };
  }

  /** The value of a sealed secret; a 503 naming both keys when another key sealed it. */
  open(name: string, sealed: Sealed): string {
    const key = this.need();
    if (sealed.key_id !== this.keyId) throw keyMismatch([sealed.key_id], this);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce);
    decipher.setAAD(Buffer.from(name, 'utf8'));
    decipher.setAuthTag(sealed.auth_tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  }
}

function keyMismatch(others: string[], box: SecretBox): ProblemError {
  return new ProblemError(503, 'Service unavailable',
    `secrets in the database were sealed with key ${others.join(', ')}, and this server's key is ${box.keyId ?? 'absent'} (${box.source}): ` +
    'every server of one database needs the same key (LABQ_SECRET_KEY, or the same secret-key file)');
}

/** The server's key: `given` (LABQ_SECRET_KEY), else the data directory's key file, made on first start; else none. */
export async function loadSecretBox(options: { given?: string; dataDir?: string }): Promise<SecretBox> {
  if (options.given) return new SecretBox(decodeKey(options.given, 'LABQ_SECRET_KEY'), 'LABQ_SECRET_KEY');
  if (!options.dataDir) return new SecretBox(null, 'no LABQ_SECRET_KEY and no data directory');
  const file = secretKeyFile(options.dataDir);
  try {
    await writeFile(file, randomBytes(KEY_BYTES).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Made by an earlier start (or a server starting beside this one): keep it.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return new SecretBox(decodeKey(await readFile(file, 'utf8'), file), file);
}

/** Refuses (at start, and before sealing a new value) when the database holds secrets this key cannot open. */
export async function assertKeyOpensSecrets(db: Db, box: SecretBox): Promise<void> {
  const others = (await db.anyFirst(sql.unsafe`
    SELECT DISTINCT key_id FROM secrets WHERE key_id IS DISTINCT FROM ${box.keyId} ORDER BY key_id`)) as string[];
  if (others.length) throw keyMismatch(others, box);
}
