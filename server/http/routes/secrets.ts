// Routes of /secrets (admin only): set, list (names and dates), remove. No answer holds a value.
import type Router from '@koa/router';
import { removeSecret } from '../../commands/removeSecret.js';
import { setSecret } from '../../commands/setSecret.js';
import { listSecrets } from '../../queries/secrets.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';

export function secretRoutes(router: Router, { pool, secrets }: ServerContext): void {
  bind(router, 'putSecret', async ({ params, body, meta, ctx }) => {
    const { created } = await setSecret(pool, secrets, params.name, body.value, meta);
    if (!created) ctx.status = 200;
    return { name: params.name, created };
  });
  bind(router, 'listSecrets', async () => ({ items: await listSecrets(pool) }));
  bind(router, 'removeSecret', async ({ params, meta }) => ({ name: params.name, ...(await removeSecret(pool, params.name, meta)) }));
}
