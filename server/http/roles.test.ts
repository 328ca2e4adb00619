// Roles, route by route: every route of the contract, called with a token of every role
// (and with none), answers as its declared roles say — refused with 403 problem+json and
// no event written when the role may not call it (401 without a token), and never refused
// when it may. The router serves exactly the routes of the contract, so a route added
// without declared roles, or added to the router outside the contract, fails here.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'slonik';
import { callRoute, routeFixtures, ROUTES, type RouteFixtures } from '../../e2e/support/routeCalls.js';
import { startTestServer, type TestServer } from '../../e2e/support/server.js';
import { API_PREFIX } from '../../shared/api.js';
import { ROLES, type Role } from '../../shared/schemas/auth.js';
import { createToken } from '../auth/tokens.js';
import { apiRouter } from './app.js';

let ts: TestServer;
let f: RouteFixtures;
const tokens = {} as Record<Role, string>;
const meta = { actor: 'test', request_id: null, source: null };

before(async () => {
  // A lease that outlasts the file: the worker's execution stays live however slowly the routes are called.
  ts = await startTestServer({ settings: { leaseSeconds: 600, offlineAfterSeconds: 600 } });
  tokens.admin = ts.token;
  for (const role of ROLES.filter((r) => r !== 'admin')) tokens[role] = await createToken(ts.server.pool, `roles-${role}`, role, meta);
  // The worker token registers the worker the routes act on, and so is bound to it.
  f = await routeFixtures(ts, { workerToken: tokens.worker, perRoute: 8 });
});

after(async () => {
  await ts?.close();
});

/** Events written by the request of this id: a refused request must write none, whatever runs meanwhile. */
const eventsOf = async (requestId: string) =>
  Number(await ts.server.pool.oneFirst(sql.unsafe`SELECT count(*) FROM events WHERE meta->>'request_id' = ${requestId}`));

test('every route declares its roles, from the one list of roles, admin implicit', () => {
  for (const [name, spec] of ROUTES) {
    assert.ok(Array.isArray(spec.roles), `${name} declares no roles`);
    for (const role of spec.roles) {
      assert.ok(ROLES.includes(role), `${name}: unknown role ${role}`);
      assert.notEqual(role, 'admin', `${name}: admin may call everything, it is not listed`);
    }
  }
});

test('the router serves exactly the routes of the contract', () => {
  const router = apiRouter({ ...ts.server, log: () => undefined });
  const served = router.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${layer.path}`)).sort();
  const declared = ROUTES.map(([, spec]) => `${spec.method.toUpperCase()} ${API_PREFIX}${spec.path}`).sort();
  assert.deepEqual(served, declared);
});

describe('each route with each role', () => {
  for (const [name, spec] of ROUTES) {
    test(`${spec.method.toUpperCase()} ${spec.path}: admin, ${spec.roles.join(', ') || 'no other role'}`, async () => {
      for (const role of [...ROLES, null]) {
        const requestId = `roles-${randomUUID()}`;
        const res = await callRoute(ts, f, name, spec, role ? `Bearer ${tokens[role]}` : undefined, { 'x-request-id': requestId });
        const where = `${role ?? 'no token'}: ${res.status} ${res.text.slice(0, 300)}`;
        const allowed = spec.public || role === 'admin' || (role !== null && spec.roles.includes(role));
        if (allowed) {
          // A token has no password of its own to change: that route answers 409 to every token.
          const tokenless = name === 'changeOwnPassword' && res.status === 409;
          assert.ok((res.status >= 200 && res.status < 300) || tokenless, where);
          continue;
        }
        assert.equal(res.status, role === null ? 401 : 403, where);
        assert.match(res.type, /^application\/problem\+json\b/, where);
        const problem = JSON.parse(res.text);
        if (role !== null) {
          assert.equal(problem.title, 'Forbidden', where);
          assert.match(problem.detail, new RegExp(`your role is ${role}\\b`), where);
          for (const may of ['admin', ...spec.roles]) assert.ok(problem.detail.includes(may), `${where}: the detail names ${may}`);
        }
        assert.equal(await eventsOf(requestId), 0, `${where}: a refused request wrote events`);
      }
    });
  }
});
