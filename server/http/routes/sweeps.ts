// Route of /sweeps: a task template and a grid of parameters, expanded into up to 100,000
// tasks in one request.
import type Router from '@koa/router';
import { compileSweep } from '../../../shared/sweep.js';
import { submitSweep } from '../../commands/submitSweep.js';
import { ProblemError, invalid } from '../../errors.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';

export function sweepRoutes(router: Router, { pool }: ServerContext): void {
  bind(router, 'submitSweep', async ({ body, meta, ctx }) => {
    const compiled = compileSweep(body);
    if (!compiled.ok) {
      if (compiled.status === 413) {
        throw new ProblemError(413, 'Payload too large', compiled.errors.map((e) => `${e.field}: ${e.message}`).join('; '), compiled.errors);
      }
      throw invalid(compiled.errors);
    }
    const result = await submitSweep(pool, compiled.sweep, meta);
    if (result.created === 0) ctx.status = 200;
    return result;
  });
}
