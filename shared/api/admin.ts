// The routes of the contract (../api.ts) for secrets and the Docker policy (admin; operators
// and viewers read the policy).
import { z } from 'zod/v4';
import { DockerPolicy } from '../dockerPolicy.js';
import { Timestamp } from '../schemas/common.js';
import { PutSecretBody, SecretInfo, SecretNameParams } from '../schemas/secret.js';
import type { RouteSpec } from './spec.js';

export const DockerPolicyAnswer = z.object({
  policy: DockerPolicy,
  version: z.number().int().describe('0 while the defaults apply'),
  updated_at: Timestamp.nullable(),
  updated_by: z.string().nullable(),
});
export type DockerPolicyAnswer = z.infer<typeof DockerPolicyAnswer>;

export const adminRoutes = {
  putSecret: {
    method: 'put', path: '/secrets/:name', tag: 'secrets', status: 201, roles: [],
    summary: 'Set a secret (201) or replace its value (200); the value is stored encrypted and never shown again',
    params: SecretNameParams, body: PutSecretBody, response: z.object({ name: z.string(), created: z.boolean() }),
  },
  listSecrets: {
    method: 'get', path: '/secrets', tag: 'secrets', roles: [], summary: 'The secrets: names and dates, never values',
    response: z.object({ items: z.array(SecretInfo) }),
  },
  removeSecret: {
    method: 'delete', path: '/secrets/:name', tag: 'secrets', roles: [],
    summary: 'Remove a secret; unfinished tasks that refer to it are refused when a worker takes them',
    params: SecretNameParams,
    response: z.object({
      name: z.string(),
      unfinished_tasks: z.number().int().describe('unfinished tasks whose env refers to it'),
      schedules: z.array(z.string()).describe('the names of the schedules whose tasks refer to it: their runs fail until it is set again'),
    }),
  },
  getDockerPolicy: {
    method: 'get', path: '/policy/docker', tag: 'policy', roles: ['operator', 'viewer'],
    summary: "The Docker policy: which container options a task may carry", response: DockerPolicyAnswer,
  },
  putDockerPolicy: {
    method: 'put', path: '/policy/docker', tag: 'policy', roles: [],
    summary: 'Replace the Docker policy (fields left out take their defaults, which refuse)',
    body: DockerPolicy, response: DockerPolicyAnswer,
  },
} as const satisfies Record<string, RouteSpec>;
