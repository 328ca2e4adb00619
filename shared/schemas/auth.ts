// Who may do what: the roles a token or a user holds, one set for the server, the CLI and the
// UI. admin: everything, users, tokens and policies included; operator: submit and steer;
// viewer: read only; worker: the worker endpoints, as the worker its token is bound to.
import { z } from 'zod/v4';

export const ROLES = ['admin', 'operator', 'viewer', 'worker'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;
