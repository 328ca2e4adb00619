// The REST API contract: every route with its method, path, and the schemas of its
// parameters, query, body and response. The server binds its handlers to these entries,
// the typed client calls them, and the OpenAPI document is generated from them, so the
// three cannot drift apart. The routes are written per resource in api/*.ts and joined here
// into the one table.
import type { z } from 'zod/v4';
import { accountRoutes } from './api/accounts.js';
import { adminRoutes } from './api/admin.js';
import { eventRoutes } from './api/events.js';
import { scheduleRoutes } from './api/schedules.js';
import type { RouteSpec } from './api/spec.js';
import { steeringRoutes } from './api/steering.js';
import { taskRoutes } from './api/tasks.js';
import { workerRoutes } from './api/workers.js';
import { workflowRoutes } from './api/workflows.js';

export { API_PREFIX, type RouteSpec } from './api/spec.js';
export { DockerPolicyAnswer } from './api/admin.js';
export { TaskCount, TaskDetail } from './api/tasks.js';

export const routes = {
  ...taskRoutes, ...scheduleRoutes, ...steeringRoutes, ...workerRoutes, ...workflowRoutes, ...eventRoutes, ...accountRoutes, ...adminRoutes,
} as const satisfies Record<string, RouteSpec>;

export type Routes = typeof routes;
export type RouteName = keyof Routes;

type Field<R, K extends string> = R extends { [P in K]: infer S } ? (S extends z.ZodType ? S : never) : never;
export type RouteParams<N extends RouteName> = z.input<Field<Routes[N], 'params'>>;
/** Query input; comma-separated list parameters may also be given as arrays. */
export type RouteQuery<N extends RouteName> = {
  [K in keyof z.input<Field<Routes[N], 'query'>>]: z.input<Field<Routes[N], 'query'>>[K] | (string extends z.input<Field<Routes[N], 'query'>>[K] ? string[] : never);
};
export type RouteBody<N extends RouteName> = z.input<Field<Routes[N], 'body'>>;
export type RouteResponse<N extends RouteName> = z.output<Field<Routes[N], 'response'>>;

