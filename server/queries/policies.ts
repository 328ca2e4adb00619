// The policies an admin set: the row of the policies projection, or the defaults; and the
// check of a submission's container options against the Docker policy.
import { sql } from 'slonik';
import { DEFAULT_DOCKER_POLICY, DockerPolicy, containerOptionViolations } from '../../shared/dockerPolicy.js';
import type { Db } from '../db/pool.js';
import type { FieldError } from '../errors.js';

export interface StoredPolicy {
  policy: DockerPolicy;
  version: number;
  updated_at: string | null;
  updated_by: string | null;
}

export async function dockerPolicy(db: Db): Promise<StoredPolicy> {
  const row = await db.maybeOne(sql.unsafe`SELECT value, version, updated_at, updated_by FROM policies WHERE name = 'docker'`);
  if (!row) return { policy: DEFAULT_DOCKER_POLICY, version: 0, updated_at: null, updated_by: null };
  // Parsed, so that a field added since the row was written reads as its default.
  return { policy: DockerPolicy.parse(row.value), version: row.version, updated_at: row.updated_at, updated_by: row.updated_by };
}

/**
 * One error per container option that cannot be read or that the Docker policy refuses,
 * naming it (`container_options[1]`, `tasks[3].container_options[0]`); the policy is read
 * only when some task carries options.
 */
export async function containerPolicyErrors(db: Db, lists: Array<readonly string[] | undefined>, field: (i: number) => string): Promise<FieldError[]> {
  if (lists.every((options) => !options?.length)) return [];
  const { policy } = await dockerPolicy(db);
  return lists.flatMap((options, i) => containerOptionViolations(options ?? [], policy)
    .map((v) => ({ field: `${field(i)}container_options[${v.index}]`, message: v.reason })));
}

/** Why options are refused on a task with no image: a bare task has no container for them. */
export const OPTIONS_NEED_IMAGE = 'container options need a container image (`container`): a bare task takes none';

/** Whether a task would carry container options and no image, which its worker could only refuse. */
export const optionsWithoutImage = (t: { container?: unknown; container_options?: unknown }): boolean =>
  !t.container && Array.isArray(t.container_options) && t.container_options.length > 0;

/** One error per task that names container options without an image (`tasks[2].container_options`). */
export const imagelessOptionErrors = (tasks: ReadonlyArray<Parameters<typeof optionsWithoutImage>[0]>, field: (i: number) => string): FieldError[] =>
  tasks.flatMap((t, i) => (optionsWithoutImage(t) ? [{ field: `${field(i)}container_options`, message: OPTIONS_NEED_IMAGE }] : []));
