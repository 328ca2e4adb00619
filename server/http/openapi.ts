// Generates the OpenAPI 3.1 document from the route contract (shared/api.ts): the same
// zod schemas that validate requests are converted to JSON Schema here, so the document
// can never describe an API other than the one served. Each operation lists the roles that
// may call it (`x-labq-roles`, admin first) and its 403.
import { z } from 'zod/v4';
import { API_PREFIX, routes, type RouteSpec } from '../../shared/api.js';
import { Problem } from '../../shared/schemas/common.js';

type Json = Record<string, unknown>;

const toSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!schema || !(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, field]) => {
    const { $schema: _drop, ...fieldSchema } = toSchema(field, 'input');
    return {
      name,
      in: where,
      required: where === 'path' || !field.safeParse(undefined).success,
      schema: fieldSchema,
      ...(field.description ? { description: field.description } : {}),
    };
  });
}

const problemResponse = { description: 'Error (RFC 9457)', content: { 'application/problem+json': { schema: toSchema(Problem, 'output') } } };

export function openApiDocument(version: string): Json {
  const paths: Record<string, Json> = {};
  for (const [operationId, spec] of Object.entries(routes) as [string, RouteSpec][]) {
    const path = API_PREFIX + spec.path.replace(/:(\w+)/g, '{$1}');
    const response =
      spec.response === 'sse'
        ? { description: 'text/event-stream of events; each `data:` is one event as JSON', content: { 'text/event-stream': { schema: { type: 'string' } } } }
        : spec.response === 'text'
          ? { description: 'text/plain; text/event-stream when following', content: { 'text/plain': { schema: { type: 'string' } }, 'text/event-stream': { schema: { type: 'string' } } } }
          : { description: 'OK', content: { 'application/json': { schema: toSchema(spec.response, 'output') } } };
    paths[path] = {
      ...paths[path],
      [spec.method]: {
        operationId,
        summary: spec.summary,
        tags: [spec.tag],
        parameters: [...parameters(spec.params, 'path'), ...parameters(spec.query, 'query')],
        ...(spec.body
          ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(spec.body, 'input') } } } }
          : {}),
        responses: {
          [String(spec.status ?? 200)]: response,
          '403': { ...problemResponse, description: `Forbidden: a token of another role than ${['admin', ...spec.roles].join(', ')}` },
          default: problemResponse,
        },
        'x-labq-roles': ['admin', ...spec.roles],
        ...(spec.public ? { security: [] } : {}),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'labq', version,
      description: 'A distributed task queue for scientific work. Every route but /healthz and the login needs `Authorization: Bearer <token>` '
        + 'or the labq_session cookie of a login (with `X-CSRF-Token` on every method but GET and HEAD), of one of the roles its '
        + '`x-labq-roles` lists (403 otherwise).',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, session: { type: 'apiKey', in: 'cookie', name: 'labq_session' } },
    },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}
