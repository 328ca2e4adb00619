// Routes of /workers: register, list, read, follow live, change settings, delete, a
// worker's executions, and the long poll. A worker token registers and polls only as the
// worker it is bound to (access.ts).
import type Router from '@koa/router';
import { deleteWorker } from '../../commands/deleteWorker.js';
import { registerWorker } from '../../commands/registerWorker.js';
import { updateWorker } from '../../commands/updateWorker.js';
import { notFound } from '../../errors.js';
import { getWorker, listWorkers, workerExecutions, workerExists } from '../../queries/workers.js';
import { poll } from '../../workers/poll.js';
import type { Identity } from '../../auth/tokens.js';
import { actsAsWorker, registeringToken } from '../access.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';
import { SseConnection } from '../sse.js';

export function workerRoutes(router: Router, { pool, polls, rounds, settings, workerFeed }: ServerContext): void {
  bind(router, 'registerWorker', async ({ body, meta, ctx }) => {
    const id = await registerWorker(pool, body, settings.leaseSeconds, meta, registeringToken(ctx.state.identity as Identity));
    return (await getWorker(pool, id))!;
  });
  bind(router, 'listWorkers', async ({ query }) => listWorkers(pool, query));
  // Before /workers/:id, which would take "stream" for an id.
  bind(router, 'streamWorkers', async ({ ctx }) => {
    const sse = new SseConnection(ctx);
    const leave = workerFeed.join(sse);
    try {
      await sse.closed;
    } finally {
      leave();
      sse.end();
    }
  });
  bind(router, 'getWorker', async ({ params }) => {
    const worker = await getWorker(pool, params.id);
    if (!worker) throw notFound(`worker ${params.id}`);
    return worker;
  });
  bind(router, 'updateWorker', async ({ params, body, meta }) => {
    await updateWorker(pool, params.id, body, meta);
    return (await getWorker(pool, params.id))!;
  });
  bind(router, 'deleteWorker', async ({ params, meta }) => {
    await deleteWorker(pool, params.id, meta);
    return { ok: true as const };
  });
  bind(router, 'workerExecutions', async ({ params, query }) => {
    const items = await workerExecutions(pool, params.id, query.limit);
    if (items.length === 0 && !(await workerExists(pool, params.id))) throw notFound(`worker ${params.id}`);
    return { items };
  });
  bind(router, 'pollWorker', async ({ params, body, meta, ctx }) => {
    actsAsWorker(ctx.state.identity, params.id);
    const gone = new AbortController();
    // The request's own 'close' fires once its body is read; the response's tells a hang-up.
    ctx.res.on('close', () => {
      if (!ctx.res.writableFinished) gone.abort();
    });
    ctx.req.socket.setTimeout(0);
    return poll(rounds, polls, params.id, body, settings, meta, gone.signal);
  });
}
