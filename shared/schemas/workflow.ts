// Workflows group steps; steps group tasks. Both carry task counts by status, read from
// the task_counts projection rather than counted on every read.
import { z } from 'zod/v4';
import { Id, Timestamp, PageQuery, SearchText } from './common.js';
import { TaskStatus } from './task.js';

const Name = z.string().min(1).max(200);

export const TaskCounts = z.partialRecord(TaskStatus, z.number().int()).describe('tasks by status; absent means 0');
export type TaskCounts = z.infer<typeof TaskCounts>;

export const WorkflowInput = z.strictObject({
  name: Name,
  description: z.string().max(10_000).optional(),
});
export type WorkflowInput = z.input<typeof WorkflowInput>;

/** What workflows and steps have in common: a named group of tasks with their counts. */
const TaskGroup = z.object({
  id: Id,
  name: z.string(),
  description: z.string().nullable(),
  created_at: Timestamp,
  created_by: z.string().nullable(),
  updated_at: Timestamp,
  version: z.number().int(),
  paused: z.boolean().describe('paused itself (a pause of a workflow also holds back its steps, which do not show it)'),
  counts: TaskCounts,
  stuck: z.boolean().describe('it has pending tasks (not paused) that no online, unpaused worker takes: no worker serves their tag or meets their requirements'),
});

export const Workflow = TaskGroup;
export type Workflow = z.infer<typeof Workflow>;

export const StepInput = z.strictObject({
  workflow_id: Id,
  name: Name,
  description: z.string().max(10_000).optional(),
});
export type StepInput = z.input<typeof StepInput>;

export const Step = TaskGroup.extend({ workflow_id: Id });
export type Step = z.infer<typeof Step>;

export const WorkflowListQuery = PageQuery.extend({ q: SearchText.optional() });
export const StepListQuery = PageQuery.extend({ workflow_id: z.coerce.number().int().positive().optional() });
