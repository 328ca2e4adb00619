// Command: set a secret (create it, or replace its value). The value is sealed with the
// server's key before it reaches the database; the log records secret.set with the name only.
// One upsert, so two admins setting one new name at once both succeed, one after the other.
import { sql } from 'slonik';
import type { EventMeta } from '../../shared/events.js';
import type { Pool } from '../db/pool.js';
import { recordEvents } from '../events/recordEvents.js';
import { assertKeyOpensSecrets, type SecretBox } from '../secrets/secretBox.js';

/** Whether the secret is new (false: its value was replaced). */
export async function setSecret(pool: Pool, box: SecretBox, name: string, value: string, meta: EventMeta): Promise<{ created: boolean }> {
  const sealed = box.seal(name, value);
  return pool.transaction(async (tx) => {
    // A server with another key would leave secrets the others cannot open.
    await assertKeyOpensSecrets(tx, box);
    const row = await tx.one(sql.unsafe`
      INSERT INTO secrets (name, version, ciphertext, nonce, auth_tag, key_id, created_at, updated_at)
      VALUES (${name}, 1, ${sql.binary(sealed.ciphertext)}, ${sql.binary(sealed.nonce)}, ${sql.binary(sealed.auth_tag)}, ${sealed.key_id}, now(), now())
      ON CONFLICT (name) DO UPDATE SET
        version = secrets.version + 1, ciphertext = excluded.ciphertext, nonce = excluded.nonce, auth_tag = excluded.auth_tag,
        key_id = excluded.key_id, updated_at = now()
      RETURNING id, version`);
    const created = row.version === 1;
    await recordEvents(tx, [{ type: 'secret.set', streamId: Number(row.id), version: row.version, data: { name, replaced: !created } }], meta);
    return { created };
  });
}
