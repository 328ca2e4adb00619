// Accounts: users, login sessions and API tokens as the API shows them. No answer ever
// carries a password, a hash or a session value; a token's value appears once, in the
// answer that creates it.
import { z } from 'zod/v4';
import { Role } from './auth.js';
import { SearchText, Timestamp } from './common.js';

/** Long enough that a guessed one is out of reach of the login limit; no composition rules (NIST SP 800-63B). */
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 1024;

export const Password = z
  .string()
  .min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`)
  .max(PASSWORD_MAX, `must be at most ${PASSWORD_MAX} characters`);

/** Names of users and tokens: what events record as their actor. */
export const AccountName = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'must start with a letter or digit and hold only letters, digits, ".", "_", "@" or "-"');

/** Addresses an existing user or token: looser than AccountName, since older tokens were named freely. */
export const NameParams = z.object({ name: SearchText });

export const LoginBody = z.object({
  // Any string: an invalid name is answered like a wrong password, without saying why.
  name: z.string().min(1).max(200),
  password: z.string().min(1).max(PASSWORD_MAX),
});

/** Who the caller is; a session also gets the token to send as X-CSRF-Token with every change. */
export const Me = z.object({
  kind: z.enum(['token', 'session']),
  name: z.string(),
  role: Role,
  csrf_token: z.string().optional().describe('sessions only: send it as X-CSRF-Token on every request but GET and HEAD'),
  expires_at: Timestamp.nullable().describe('when the session or token ends; null: never'),
});
export type Me = z.infer<typeof Me>;

export const LoginResponse = Me.pick({ name: true, role: true, expires_at: true }).extend({ csrf_token: z.string() });

export const ChangeOwnPasswordBody = z.object({ password: Password, current_password: z.string().min(1).max(PASSWORD_MAX) });

export const User = z.object({
  name: z.string(),
  role: Role,
  created_at: Timestamp,
  /** Live sessions now. */
  sessions: z.number().int(),
});
export type User = z.infer<typeof User>;

export const CreateUserBody = z.object({ name: AccountName, role: Role, password: Password });
export const PatchUserBody = z
  .object({ password: Password.optional(), role: Role.optional() })
  .refine((b) => b.password !== undefined || b.role !== undefined, { message: 'give password, role or both' });

/** `30d`, `12h`, `90m`, `3600s`: what `expires_in` takes. */
export const Duration = z
  .string()
  .regex(/^[1-9][0-9]{0,5}[smhd]$/, 'must be a whole number from 1 to 999999 followed by s, m, h or d, e.g. 30d')
  .describe('a lifetime, e.g. 30d, 12h, 90m');

export const DURATION_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

export function durationSeconds(text: string): number {
  return Number(text.slice(0, -1)) * DURATION_SECONDS[text.slice(-1) as keyof typeof DURATION_SECONDS];
}

export const CreateTokenBody = z
  .object({
    name: AccountName,
    role: Role,
    expires_in: Duration.optional(),
    expires_at: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time, e.g. 2027-01-31T00:00:00Z' }).optional(),
  })
  .refine((b) => b.expires_in === undefined || b.expires_at === undefined, { message: 'give expires_in or expires_at, not both', path: ['expires_at'] })
  .refine((b) => b.expires_at === undefined || Date.parse(b.expires_at) > Date.now(), { message: 'must be in the future', path: ['expires_at'] });

export const ApiToken = z.object({
  name: z.string(),
  role: Role,
  created_at: Timestamp,
  created_by: z.string().nullable(),
  expires_at: Timestamp.nullable(),
  revoked_at: Timestamp.nullable(),
  status: z.enum(['live', 'expired', 'revoked']),
});
export type ApiToken = z.infer<typeof ApiToken>;

export const CreatedToken = ApiToken.extend({ token: z.string().describe('the value: shown this once, only its SHA-256 is kept') });
