// The routes of the contract (../api.ts) for the event log (pages, latest, stream), the
// overview of the queue and the OpenAPI document.
import { z } from 'zod/v4';
import { EventLatest, EventLatestQuery, EventPage, EventPageQuery, EventStreamQuery } from '../schemas/event.js';
import { Stats, StatsQuery } from '../schemas/stats.js';
import { READ, type RouteSpec } from './spec.js';

export const eventRoutes = {
  listEvents: {
    method: 'get', path: '/events', roles: READ, tag: 'events', summary: 'A page of the event log, in commit-safe order',
    query: EventPageQuery, response: EventPage,
  },
  latestEvents: {
    method: 'get', path: '/events/latest', roles: READ, tag: 'events',
    summary: 'The newest events, newest first, paged backwards; with the head cursor to follow the stream from',
    query: EventLatestQuery, response: EventLatest,
  },
  streamEvents: {
    method: 'get', path: '/events/stream', roles: READ, tag: 'events',
    summary: 'Server-Sent Events: replay after Last-Event-ID (or ?lastEventId=), then live',
    query: EventStreamQuery, response: 'sse',
  },
  stats: {
    method: 'get', path: '/stats', roles: READ, tag: 'overview',
    summary: 'The whole queue at a glance: tasks by status, finishes per minute, workers, the latest failures, why work waits',
    query: StatsQuery, response: Stats,
  },
  openapi: {
    method: 'get', path: '/openapi.json', roles: READ, tag: 'meta', summary: 'This document',
    response: z.record(z.string(), z.unknown()),
  },
} as const satisfies Record<string, RouteSpec>;
