// What a worker keeps on disk about its executions, so that a restarted worker knows
// which containers are its own to follow, and which bare processes are its orphans.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Task } from '../shared/schemas/task.js';

export interface ExecutionState {
  executionId: number;
  attempt: number;
  task: Task;
  container: boolean;
  /** A bare task's process group, and its start time (from /proc) so that a reused pid is never taken for it. */
  process?: { pid: number; startTime: string };
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
    await writeAtomically(join(this.dir, `${state.executionId}.json`), JSON.stringify(state));
  }

  async remove(executionId: number): Promise<void> {
    await rm(join(this.dir, `${executionId}.json`), { force: true });
  }
}

/** Replaces a file whole: a crash leaves the old content or the new, never half of it. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(file + '.tmp', text);
  await rename(file + '.tmp', file);
}

/** When a process started, in clock ticks since boot (field 22 of /proc/PID/stat); null if it is gone. */
export async function processStartTime(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
