// Routes of /schedules: create, list, show, edit, delete, enable, disable, and run now with
// some of the context changed for that run.
import type Router from '@koa/router';
import { createSchedule } from '../../commands/createSchedule.js';
import { deleteSchedule } from '../../commands/deleteSchedule.js';
import { editSchedule } from '../../commands/editSchedule.js';
import { runScheduleNow } from '../../commands/fireSchedule.js';
import { setScheduleEnabled } from '../../commands/setScheduleEnabled.js';
import { getSchedule, listSchedules } from '../../queries/schedules.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';

export function scheduleRoutes(router: Router, { pool }: ServerContext): void {
  bind(router, 'createSchedule', async ({ body, meta }) => getSchedule(pool, await createSchedule(pool, body, meta)));
  bind(router, 'listSchedules', async () => ({ items: await listSchedules(pool) }));
  bind(router, 'getSchedule', async ({ params }) => getSchedule(pool, params.id));
  bind(router, 'editSchedule', async ({ params, body, meta }) => {
    await editSchedule(pool, params.id, body, meta);
    return getSchedule(pool, params.id);
  });
  bind(router, 'deleteSchedule', async ({ params, meta }) => {
    await deleteSchedule(pool, params.id, meta);
    return { ok: true as const };
  });
  bind(router, 'enableSchedule', async ({ params, meta }) => {
    await setScheduleEnabled(pool, params.id, true, meta);
    return getSchedule(pool, params.id);
  });
  bind(router, 'disableSchedule', async ({ params, meta }) => {
    await setScheduleEnabled(pool, params.id, false, meta);
    return getSchedule(pool, params.id);
  });
  bind(router, 'runSchedule', async ({ params, body, meta }) => runScheduleNow(pool, params.id, body.context, meta));
}
