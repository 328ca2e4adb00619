// Routes of /workflows and /steps.
import type Router from '@koa/router';
import { createStep } from '../../commands/createStep.js';
import { createWorkflow } from '../../commands/createWorkflow.js';
import { notFound } from '../../errors.js';
import { getStep, getWorkflow, listSteps, listWorkflows } from '../../queries/workflows.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';

export function workflowRoutes(router: Router, { pool }: ServerContext): void {
  bind(router, 'createWorkflow', async ({ body, meta }) => {
    const id = await createWorkflow(pool, body, meta);
    return (await getWorkflow(pool, id))!;
  });
  bind(router, 'listWorkflows', async ({ query }) => listWorkflows(pool, query));
  bind(router, 'getWorkflow', async ({ params }) => {
    const workflow = await getWorkflow(pool, params.id);
    if (!workflow) throw notFound(`workflow ${params.id}`);
    return workflow;
  });

  bind(router, 'createStep', async ({ body, meta }) => {
    const id = await createStep(pool, body, meta);
    return (await getStep(pool, id))!;
  });
  bind(router, 'listSteps', async ({ query }) => listSteps(pool, query));
  bind(router, 'getStep', async ({ params }) => {
    const step = await getStep(pool, params.id);
    if (!step) throw notFound(`step ${params.id}`);
    return step;
  });
}
