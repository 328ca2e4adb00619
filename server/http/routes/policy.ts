// Routes of /policy/docker: read the Docker policy (operators and viewers too: it explains
// their refusals), replace it (admin).
import type Router from '@koa/router';
import { setDockerPolicy } from '../../commands/setDockerPolicy.js';
import { dockerPolicy } from '../../queries/policies.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';

export function policyRoutes(router: Router, { pool }: ServerContext): void {
  bind(router, 'getDockerPolicy', async () => dockerPolicy(pool));
  bind(router, 'putDockerPolicy', async ({ body, meta }) => setDockerPolicy(pool, body, meta));
}
