// What a worker keeps on disk about its container executions, so that a restarted worker
// knows which containers are its own to follow (bare tasks have none: orphans.ts).
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { processStat } from './procStat.js';
import type { Task } from '../shared/schemas/task.js';

export interface ExecutionState {
  executionId: number;
  attempt: number;
  task: Task;
  container: boolean;
  /** The resource cache entries a container mounts: held again when it is re-attached, so that none is removed under it. */
  resources?: string[];
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

  /** Synchronous, as remove: a few kilobytes to the page cache cost less than a trip through the thread pool, once per task. */
  save(state: ExecutionState): void {
    writeAtomically(join(this.dir, `${state.executionId}.json`), JSON.stringify(state));
  }

  remove(executionId: number): void {
    rmSync(join(this.dir, `${executionId}.json`), { force: true });
  }
}

/** Replaces a small file whole: a crash leaves the old content or the new, never half of it. */
export function writeAtomically(file: string, text: string): void {
  writeFileSync(file + '.tmp', text);
  renameSync(file + '.tmp', file);
}

/** When a process started, in clock ticks since boot (field 22 of /proc/PID/stat); null if it is gone. */
export async function processStartTime(pid: number): Promise<string | null> {
  return (await processStat(pid))?.[19] ?? null;
}
