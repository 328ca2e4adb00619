// Who may call what. Every route of the contract names the roles that may call it besides
// admin (shared/api.ts); `authorize` checks them before anything of the request is read,
// so a refused request reads and writes nothing. A worker token is further bound to the
// worker it first registered: the `actsAs…` checks keep it to that worker and to that
// worker's executions. Admin tokens are bound to nothing and may act as any worker (an
// operator's debugging, or a worker run by hand).
import type { RouteSpec } from '../../shared/api.js';
import type { Identity } from '../auth/tokens.js';
import { forbidden, notItsExecution } from '../errors.js';

const listed = (roles: readonly string[]) =>
  roles.length <= 1 ? roles.join('') : `${roles.slice(0, -1).join(', ')} and ${roles[roles.length - 1]}`;

/**
 * `called` is the method and path of the request (`GET /api/v1/tasks/42`): the refusal names
 * what the caller asked for, not the route's pattern (`/tasks/:id`), which it never typed.
 */
export function authorize(route: RouteSpec, identity: Identity | undefined, called: string): void {
  // A public route (the login) is for anyone; the others never run without an identity (app.ts answers 401).
  if (route.public) return;
  if (!identity) throw new Error(`${route.path} reached without an identity`);
  if (identity.role === 'admin' || route.roles.includes(identity.role)) return;
  throw forbidden(`${called} is for ${listed(['admin', ...route.roles])}; your role is ${identity.role}`);
}

/** The worker whose executions alone this caller may touch: undefined for any (admin). */
export function ownWorker(identity: Identity): number | undefined {
  if (identity.role !== 'worker') return undefined;
  if (identity.workerId === null) throw forbidden('this worker token is bound to no worker yet: register (POST /workers) first');
  return identity.workerId;
}

/**
 * The worker token that registers a worker, bound to it from then on; null for an admin, bound
 * to nothing. A worker's session (a user of role worker who logged in) is refused: it has no
 * token to bind, so the binding's checks could not hold it, and it could never poll.
 */
export function registeringToken(identity: Identity): number | null {
  if (identity.role !== 'worker') return null;
  if (identity.kind !== 'token' || identity.tokenId === undefined) throw forbidden('a worker registers with a worker token (labq admin token create NAME --role worker), not in a session');
  return identity.tokenId;
}

/** A worker token may act only as its own worker (admin tokens as any). */
export function actsAsWorker(identity: Identity, workerId: number): void {
  const own = ownWorker(identity);
  if (own !== undefined && own !== workerId) throw forbidden(`this token is bound to worker ${own} and may not act as worker ${workerId}`);
}

/** A worker token may touch only its own worker's executions. */
export function actsOnExecution(identity: Identity, execution: { id: number; worker_id: number }): void {
  const own = ownWorker(identity);
  if (own !== undefined && own !== execution.worker_id) throw notItsExecution(execution.id);
}
