// Command: edit tasks whose process has not started (one, or all a filter matches): new
// values for some fields, and/or a find and replace in the command (plain text or a
// regular expression). Each task that changes gets one task.edited event with the old and
// new values of the fields that changed. A task assigned but not started loses that attempt
// (cancelExecutions) and goes back to the queue, so whoever claims it next runs the new
// definition; a running task is left alone. A task that ended can be edited too, so that a
// relaunch runs the fixed definition. A dry run answers the same counts and a sample of
// the changes, and writes nothing. If any new command would be invalid, nothing changes; nor
// if a new env names a secret that does not exist, or new container options break the
// Docker policy.
import { sql } from 'slonik';
import { z } from 'zod';
import { MAX_COMMAND_CHARS } from '../../shared/limits.js';
import type { EventData, EventMeta } from '../../shared/events.js';
import {
  EDIT_SAMPLE_SIZE, EDITABLE_FIELDS, type BulkResult, type CommandReplace, type EditableField, type TaskChanges,
} from '../../shared/schemas/steering.js';
import type { TaskFilter } from '../../shared/schemas/task.js';
import type { Pool } from '../db/pool.js';
import { invalid } from '../errors.js';
import { recordEvents } from '../events/recordEvents.js';
import { containerPolicyErrors, OPTIONS_NEED_IMAGE, optionsWithoutImage } from '../queries/policies.js';
import { unknownSecrets } from '../queries/secrets.js';
import { cancelExecutions } from './cancelExecutions.js';
import { NOT_STARTED } from '../../shared/schemas/execution.js';
import { sharePausesLock } from './lockScope.js';
import { openBulk } from './matchTasks.js';
import { jsonb } from '../db/jsonb.js';

export interface EditRequest {
  set?: TaskChanges;
  replace?: CommandReplace;
  dry_run: boolean;
}

type JsonRecord = EventData<'task.edited'>['before'];
const STARTED = ['running', 'uploading'];

const Definition = z.object({ id: z.number(), workflow_id: z.number().nullable(), step_id: z.number().nullable() }).catchall(z.unknown());
type Definition = z.infer<typeof Definition>;

/** The `find` of a replace as a matcher, or a 400 naming the field. */
function matcher(replace: CommandReplace): RegExp {
  try {
    const source = replace.regex ? replace.find : replace.find.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(source, replace.all ? 'g' : '');
  } catch (error) {
    throw invalid([{ field: 'replace.find', message: `not a valid regular expression: ${(error as Error).message}` }]);
  }
}

/** The command after the replace (a plain `with` is literal), or a 400 when it cannot be one. */
function replaced(command: string, replace: { re: RegExp; with: string }, taskId: number): string {
  let result: string;
  try {
    result = command.replace(replace.re, replace.with);
  } catch (error) {
    throw invalid([{ field: 'replace', message: `task ${taskId}: ${(error as Error).message}` }]);
  }
  // A pattern that matches half of a surrogate pair (`.` without the u flag) would leave
  // text that PostgreSQL cannot store.
  if (/\p{Cs}/u.test(result)) {
    throw invalid([{ field: 'replace', message: `task ${taskId}: the new command would split a character in two` }]);
  }
  return result;
}

/** The fields whose values change, old and new. */
function changesOf(task: Definition, set: TaskChanges, replace: { re: RegExp; with: string } | null) {
  const wanted: Record<string, unknown> = { ...set };
  if (replace) wanted.command = replaced((set.command ?? task.command) as string, replace, task.id);
  // Requirements given are merged into the task's: a memory requirement a curve raised stays
  // unless the edit names memory_mb.
  if (set.requirements) wanted.requirements = { ...(task.requirements as object), ...set.requirements };
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const field of EDITABLE_FIELDS as readonly EditableField[]) {
    if (!(field in wanted)) continue;
    const value = wanted[field] ?? null;
    if (JSON.stringify(value) === JSON.stringify(task[field] ?? null)) continue;
    before[field] = task[field] ?? null;
    after[field] = value;
  }
  return { before, after };
}

export async function editTasks(pool: Pool, filter: TaskFilter, request: EditRequest, meta: EventMeta): Promise<BulkResult> {
  if (!request.replace && Object.keys(request.set ?? {}).length === 0) {
    throw invalid([{ field: 'set', message: `name at least one field to change: ${EDITABLE_FIELDS.join(', ')}` }]);
  }
  const replace = request.replace
    ? { re: matcher(request.replace), with: request.replace.regex ? request.replace.with : request.replace.with.replace(/\$/g, '$$$$') }
    : null;
  return pool.transaction(async (tx) => {
    const refused = [
      ...(await unknownSecrets(tx, [request.set?.env], () => 'set.')),
      ...(await containerPolicyErrors(tx, [request.set?.container_options], () => 'set.')),
    ];
    if (refused.length) throw invalid(refused);
    if (!request.dry_run) await sharePausesLock(tx);
    const { tasks, outcome } = await openBulk(tx, filter, request.dry_run);
    const editable = tasks.filter((t) => !STARTED.includes(t.status) || (outcome.skip(t.id, `${t.status}: it has started`), false));
    const rows = editable.length === 0 ? [] : await tx.any(sql.type(Definition)`
      SELECT id, workflow_id, step_id, ${sql.join(EDITABLE_FIELDS.map((f) => sql.identifier([f])), sql.fragment`, `)}
      FROM tasks WHERE id = ANY(${sql.array(editable.map((t) => t.id), 'int8')}) ORDER BY id`);
    const edits = [];
    const badCommands: number[] = [];
    const imageless: number[] = [];
    for (const row of rows) {
      const { before, after } = changesOf(row, request.set ?? {}, replace);
      if (Object.keys(after).length === 0) {
        outcome.skip(row.id, 'no change');
        continue;
      }
      if ('command' in after && ((after.command as string).length === 0 || (after.command as string).length > MAX_COMMAND_CHARS)) {
        badCommands.push(row.id);
        continue;
      }
      // Only an edit of the image or of the options is checked: one of other fields leaves a task as it was.
      if (('container' in after || 'container_options' in after) && optionsWithoutImage({ container: row.container, container_options: row.container_options, ...after })) {
        imageless.push(row.id);
        continue;
      }
      edits.push({ row, before, after });
    }
    if (imageless.length) {
      throw invalid([{
        field: request.set && 'container_options' in request.set ? 'set.container_options' : 'set.container',
        message: `${imageless.length} task(s) would have container options and no image (tasks ${imageless.slice(0, 10).join(', ')}): ${OPTIONS_NEED_IMAGE}`,
      }]);
    }
    if (badCommands.length) {
      throw invalid([{
        field: request.replace ? 'replace' : 'set.command',
        message: `the new command of ${badCommands.length} task(s) would be empty or longer than ${MAX_COMMAND_CHARS} characters (tasks ${badCommands.slice(0, 10).join(', ')})`,
      }]);
    }
    edits.forEach((e) => outcome.changed(e.row.id));
    const sample = edits.slice(0, EDIT_SAMPLE_SIZE).map((e) => ({ id: e.row.id, before: e.before, after: e.after }));
    if (request.dry_run || edits.length === 0) return outcome.result({ sample });

    const byId = new Map(tasks.map((t) => [t.id, t]));
    const unstarted = edits.filter((e) => (NOT_STARTED as readonly string[]).includes(byId.get(e.row.id)!.status));
    await cancelExecutions(tx, unstarted.map((e) => byId.get(e.row.id)!.execution_id!), 'its task was edited before it started', 'pending', meta);
    // A new tag may fall under a pause, or out of one.
    const paused = new Map((await tx.any(sql.unsafe`
      SELECT x.id, task_paused(x.workflow_id, x.step_id, x.tag) AS paused
      FROM jsonb_to_recordset(${jsonb(edits.map((e) => ({ id: e.row.id, workflow_id: e.row.workflow_id, step_id: e.row.step_id, tag: (e.after.tag ?? e.row.tag) as string })))})
        AS x(id bigint, workflow_id bigint, step_id bigint, tag text)`)).map((r) => [Number(r.id), r.paused as boolean]));
    await recordEvents(tx, edits.map((e) => ({
      type: 'task.edited' as const, streamId: e.row.id, version: byId.get(e.row.id)!.version + 1,
      data: { before: e.before as JsonRecord, after: e.after as JsonRecord, paused: paused.get(e.row.id)! },
    })), meta);
    return outcome.result({ sample });
  });
}
