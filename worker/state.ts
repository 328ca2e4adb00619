// What a worker keeps on disk about its executions, so that a restarted worker knows
// which containers are its own and how much of their output it already spooled.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Task } from '../shared/schemas/task.js';

export interface ExecutionState {
  executionId: number;
  attempt: number;
  task: Task;
  /** Bytes of each stream handed to the spool; a re-attach skips that much of the container's log. */
  spooled: { stdout: number; stderr: number };
  container: boolean;
}

export class StateStore {
  constructor(private readonly dir: string) {}

  async open(): Promise<ExecutionState[]> {
    await mkdir(this.dir, { recursive: true });
    const out: ExecutionState[] = [];
    for (const file of await readdir(this.dir)) {
      if (!file.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await readFile(join(this.dir, file), 'utf8')));
      } catch {
        await rm(join(this.dir, file), { force: true });
      }
    }
    return out;
  }

  async save(state: ExecutionState): Promise<void> {
    const file = join(this.dir, `${state.executionId}.json`);
    await writeFile(file + '.tmp', JSON.stringify(state));
    await rename(file + '.tmp', file);
  }

  async remove(executionId: number): Promise<void> {
    await rm(join(this.dir, `${executionId}.json`), { force: true });
  }
}
