// The read side of secrets: names and dates for the API (never a value), which names exist
// (a submission refers only to those), and the values an assignment carries.
import { sql } from 'slonik';
import { isSecretRef, type SecretInfo } from '../../shared/schemas/secret.js';
import type { Task } from '../../shared/schemas/task.js';
import type { Db } from '../db/pool.js';
import type { FieldError } from '../errors.js';
import type { SecretBox, Sealed } from '../secrets/secretBox.js';

export async function listSecrets(db: Db): Promise<SecretInfo[]> {
  return (await db.any(sql.unsafe`SELECT name, created_at, updated_at FROM secrets ORDER BY name`)) as unknown as SecretInfo[];
}

/** The secret names an env refers to, by variable. */
export const secretRefs = (env: Record<string, unknown> | undefined): Array<[variable: string, secret: string]> =>
  Object.entries(env ?? {}).flatMap(([variable, value]) => (isSecretRef(value) ? [[variable, value.secret] as [string, string]] : []));

/**
 * One error per reference to a secret that does not exist, naming the variable
 * (`env.API_KEY`, `tasks[3].env.API_KEY`); one query for all the envs.
 */
export async function unknownSecrets(db: Db, envs: Array<Record<string, unknown> | undefined>, field: (i: number) => string): Promise<FieldError[]> {
  const refs = envs.map(secretRefs);
  const names = [...new Set(refs.flatMap((r) => r.map(([, secret]) => secret)))];
  if (names.length === 0) return [];
  const known = new Set((await db.anyFirst(sql.unsafe`SELECT name FROM secrets WHERE name = ANY(${sql.array(names, 'text')})`)) as string[]);
  return refs.flatMap((r, i) => r.filter(([, secret]) => !known.has(secret))
    .map(([variable, secret]) => ({ field: `${field(i)}env.${variable}`, message: `secret ${JSON.stringify(secret)} does not exist (labq secret set ${secret})` })));
}

/** The values of the secrets these tasks refer to, per task, read with one query and opened with the server's key. */
export async function secretsFor(db: Db, box: SecretBox, tasks: Array<Pick<Task, 'env'>>): Promise<Array<Record<string, string>>> {
  const refs = tasks.map((t) => secretRefs(t.env));
  const names = [...new Set(refs.flatMap((r) => r.map(([, secret]) => secret)))];
  if (names.length === 0) return tasks.map(() => ({}));
  const rows = await db.any(sql.unsafe`
    SELECT name, ciphertext, nonce, auth_tag, key_id FROM secrets WHERE name = ANY(${sql.array(names, 'text')})`);
  const values = new Map(rows.map((row) => [row.name as string, box.open(row.name, row as unknown as Sealed)]));
  return refs.map((r) => Object.fromEntries(r.flatMap(([, secret]) => (values.has(secret) ? [[secret, values.get(secret)!]] : []))));
}
