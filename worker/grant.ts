// What an assignment brings besides its task: the values of the secrets its env names, and
// the Docker policy. Held in memory only: the state directory keeps the task, whose env
// holds the references, and a re-attached container already has its environment. Resolving
// the env lives here so that a secret's value is handled in this one place.
import type { DockerPolicy } from '../shared/dockerPolicy.js';
import { isSecretRef } from '../shared/schemas/secret.js';
import type { Task } from '../shared/schemas/task.js';

export interface Grant {
  secrets: Record<string, string>;
  dockerPolicy: DockerPolicy | null;
}
export const NO_GRANT: Grant = { secrets: {}, dockerPolicy: null };

/** The task's variables with its secrets' values, or why it cannot have them (a name, never a value). */
export function resolveEnv(env: Task['env'], secrets: Record<string, string>): { env: Record<string, string> } | { missing: string } {
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!isSecretRef(value)) resolved[name] = value;
    else if (Object.hasOwn(secrets, value.secret)) resolved[name] = secrets[value.secret]!;
    else return { missing: `secret ${JSON.stringify(value.secret)} no longer exists (env.${name})` };
  }
  return { env: resolved };
}
