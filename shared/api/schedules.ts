// The routes of the contract (../api.ts) for schedules: tasks or a sweep submitted on a cron.
import { z } from 'zod/v4';
import { Id, Timestamp } from '../schemas/common.js';
import { RunScheduleBody, ScheduleDetail, ScheduleInput, ScheduleListItem, SchedulePatch } from '../schemas/schedule.js';
import { IdParams, READ, STEER, type RouteSpec } from './spec.js';

export const scheduleRoutes = {
  createSchedule: {
    method: 'post', path: '/schedules', roles: STEER, tag: 'schedules', status: 201,
    summary: 'Create a schedule: tasks or a sweep submitted on a cron, in a time zone, with a context of named parameters',
    body: ScheduleInput, response: ScheduleDetail,
  },
  listSchedules: {
    method: 'get', path: '/schedules', roles: READ, tag: 'schedules', summary: 'Every schedule with its next due times and its latest run',
    response: z.object({ items: z.array(ScheduleListItem) }),
  },
  getSchedule: {
    method: 'get', path: '/schedules/:id', roles: READ, tag: 'schedules', summary: 'One schedule with its latest runs and how their tasks stand',
    params: IdParams, response: ScheduleDetail,
  },
  editSchedule: {
    method: 'patch', path: '/schedules/:id', roles: STEER, tag: 'schedules',
    summary: 'Change some fields of a schedule (recorded with old and new values); a new cron or time zone moves the next due time',
    params: IdParams, body: SchedulePatch, response: ScheduleDetail,
  },
  deleteSchedule: {
    method: 'delete', path: '/schedules/:id', roles: STEER, tag: 'schedules', summary: 'Delete a schedule (the tasks it made stay)',
    params: IdParams, response: z.object({ ok: z.literal(true) }),
  },
  enableSchedule: {
    method: 'post', path: '/schedules/:id/enable', roles: STEER, tag: 'schedules', summary: 'Enable a schedule: next due at its first due time from now',
    params: IdParams, response: ScheduleDetail,
  },
  disableSchedule: {
    method: 'post', path: '/schedules/:id/disable', roles: STEER, tag: 'schedules', summary: 'Disable a schedule: the clock no longer fires it',
    params: IdParams, response: ScheduleDetail,
  },
  runSchedule: {
    method: 'post', path: '/schedules/:id/run', roles: STEER, tag: 'schedules', status: 201,
    summary: 'Run a schedule now, optionally with some context parameters changed for this run only',
    params: IdParams, body: RunScheduleBody,
    response: z.object({
      run: z.number().int(), due_at: Timestamp, fired_at: Timestamp, task_ids: z.array(Id), context: z.record(z.string(), z.string()),
    }),
  },
} as const satisfies Record<string, RouteSpec>;
