// The routes of the contract (../api.ts) for logging in, users and API tokens.
import { z } from 'zod/v4';
import {
  ApiToken, ChangeOwnPasswordBody, CreatedToken, CreateTokenBody, CreateUserBody, LoginBody, LoginResponse, Me, NameParams,
  PatchUserBody, User,
} from '../schemas/account.js';
import type { RouteSpec } from './spec.js';

export const accountRoutes = {
  login: {
    method: 'post', path: '/auth/login', tag: 'accounts', public: true, roles: ['operator', 'viewer', 'worker'],
    summary: 'Log in with a name and password: sets the labq_session cookie, answers the CSRF token; 401 alike for an unknown name and a wrong password, 429 after repeated failures',
    body: LoginBody, response: LoginResponse,
  },
  logout: {
    method: 'post', path: '/auth/logout', tag: 'accounts', roles: ['operator', 'viewer', 'worker'],
    summary: 'End the current session (with a token: nothing to end)', response: z.object({ ok: z.literal(true) }),
  },
  me: {
    method: 'get', path: '/auth/me', tag: 'accounts', roles: ['operator', 'viewer', 'worker'],
    summary: 'Who the caller is: a session (with its CSRF token) or a token', response: Me,
  },
  changeOwnPassword: {
    method: 'patch', path: '/auth/me', tag: 'accounts', roles: ['operator', 'viewer', 'worker'],
    summary: "Change the logged-in user's own password (needs the current one); the user's other sessions end",
    body: ChangeOwnPasswordBody, response: z.object({ ok: z.literal(true) }),
  },
  listUsers: {
    method: 'get', path: '/users', tag: 'accounts', roles: [], summary: 'Users (never their passwords)',
    response: z.object({ items: z.array(User) }),
  },
  createUser: {
    method: 'post', path: '/users', tag: 'accounts', roles: [], status: 201, summary: 'Create a user with a role and a password',
    body: CreateUserBody, response: User,
  },
  updateUser: {
    method: 'patch', path: '/users/:name', tag: 'accounts', roles: [],
    summary: "Set a user's password or role; a new password ends the user's sessions",
    params: NameParams, body: PatchUserBody, response: User,
  },
  removeUser: {
    method: 'delete', path: '/users/:name', tag: 'accounts', roles: [],
    summary: 'Remove a user: its sessions end at once, and the tokens it made in a session are revoked',
    params: NameParams, response: z.object({ ok: z.literal(true) }),
  },
  listTokens: {
    method: 'get', path: '/tokens', tag: 'accounts', roles: [], summary: 'API tokens (names, roles, expiry; never the values)',
    response: z.object({ items: z.array(ApiToken) }),
  },
  createToken: {
    method: 'post', path: '/tokens', tag: 'accounts', roles: [], status: 201,
    summary: 'Create an API token, optionally expiring; its value is in this answer only',
    body: CreateTokenBody, response: CreatedToken,
  },
  revokeToken: {
    method: 'delete', path: '/tokens/:name', tag: 'accounts', roles: [], summary: 'Revoke a token: refused from now on, on every server',
    params: NameParams, response: z.object({ ok: z.literal(true) }),
  },
} as const satisfies Record<string, RouteSpec>;
