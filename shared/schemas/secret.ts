// Secrets: values kept encrypted by the server and referred to by name in a task's env
// (`{"secret": "ncbi-key"}`). No answer of the API ever holds a value: the list shows names
// and dates, and only a worker's assignment carries the values its task refers to.
import { z } from 'zod/v4';
import { Timestamp } from './common.js';

export const SecretName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a secret name is letters, digits, `_`, `.`, `-` (at most 128), starting with a letter or digit');

/** An env value that names a secret instead of holding a value. */
export const SecretRef = z.strictObject({ secret: SecretName });
export type SecretRef = z.infer<typeof SecretRef>;

export const isSecretRef = (value: unknown): value is SecretRef =>
  typeof value === 'object' && value !== null && typeof (value as SecretRef).secret === 'string';

/** The largest secret value: an API key or a small credentials file, not a dataset. */
export const MAX_SECRET_BYTES = 64 * 1024;

export const PutSecretBody = z.strictObject({
  value: z.string().min(1, 'must not be empty').max(MAX_SECRET_BYTES),
});

export const SecretNameParams = z.object({ name: SecretName });

export const SecretInfo = z.object({
  name: z.string(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type SecretInfo = z.infer<typeof SecretInfo>;
