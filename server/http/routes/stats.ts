// Route of /stats: the overview the UI opens on.
import type Router from '@koa/router';
import { stats } from '../../queries/stats.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';

export function statsRoutes(router: Router, { pool }: ServerContext): void {
  bind(router, 'stats', async ({ query }) => stats(pool, query.minutes));
}
