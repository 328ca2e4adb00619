// The routes of the contract (../api.ts) for workflows and their steps.
import { page } from '../schemas/common.js';
import { Step, StepInput, StepListQuery, Workflow, WorkflowInput, WorkflowListQuery } from '../schemas/workflow.js';
import { IdParams, READ, STEER, type RouteSpec } from './spec.js';

export const workflowRoutes = {
  createWorkflow: {
    method: 'post', path: '/workflows', roles: STEER, tag: 'workflows', status: 201, summary: 'Create a workflow',
    body: WorkflowInput, response: Workflow,
  },
  listWorkflows: {
    method: 'get', path: '/workflows', roles: READ, tag: 'workflows', summary: 'List workflows with their task counts',
    query: WorkflowListQuery, response: page(Workflow),
  },
  getWorkflow: {
    method: 'get', path: '/workflows/:id', roles: READ, tag: 'workflows', summary: 'One workflow with its task counts by status',
    params: IdParams, response: Workflow,
  },
  createStep: {
    method: 'post', path: '/steps', roles: STEER, tag: 'workflows', status: 201, summary: 'Create a step in a workflow',
    body: StepInput, response: Step,
  },
  listSteps: {
    method: 'get', path: '/steps', roles: READ, tag: 'workflows', summary: 'List steps with their task counts',
    query: StepListQuery, response: page(Step),
  },
  getStep: {
    method: 'get', path: '/steps/:id', roles: READ, tag: 'workflows', summary: 'One step with its task counts by status',
    params: IdParams, response: Step,
  },
} as const satisfies Record<string, RouteSpec>;
