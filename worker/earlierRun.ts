// What an earlier run of this daemon, with the same state directory, left behind, taken up
// before this run claims anything: bare tasks it left running are killed (their output went
// to the dead daemon, so they cannot be followed: orphans.ts), folders nobody follows any
// more are removed, and the containers still running are handed back, each with how to
// follow its log from where the server's copy ends. The daemon makes them executions again.
// Apart from the daemon, so that the daemon reads as its exchanges and this as its start.
import type { OutputSize } from '../shared/schemas/execution.js';
import type { Attach } from './execution.js';
import { killOrphans } from './orphans.js';
import type { DockerRunner } from './runners/docker.js';
import type { Spool } from './spool.js';
import type { ExecutionState, StateStore } from './state.js';
import type { WorkFolders } from './workFolders.js';

export interface EarlierRun {
  workDir: string;
  state: StateStore;
  folders: WorkFolders;
  spool: Spool;
  docker: DockerRunner | null;
  /** What the server stored of an execution's output (retried while it cannot be reached). */
  storedOutput(executionId: number): Promise<OutputSize>;
  log(line: string): void;
}

/** The containers of the earlier run to follow to their end, with the state each was saved with. */
export async function takeUpEarlierRun(run: EarlierRun): Promise<{ state: ExecutionState; attach: Attach }[]> {
  const killed = await killOrphans(run.workDir);
  if (killed > 0) run.log(`killed ${killed} bare task(s) an earlier run of this worker left running`);
  const saved = await run.state.open();
  const docker = run.docker;
  const containers = docker ? await docker.listLabqContainers() : [];
  const followed = docker ? saved.filter((state) => containers.some((c) => c.executionId === state.executionId)) : [];
  for (const state of saved) if (!followed.includes(state)) run.state.remove(state.executionId);
  // What the spool kept of an execution no longer followed, all delivered, would stay for good.
  const followedIds = new Set(followed.map((state) => state.executionId));
  for (const id of run.spool.idle()) if (!followedIds.has(id)) await run.spool.drop(id);
  // Before any execution of this run: one the server sends again may have a folder there.
  await run.folders.removeLeftovers(followedIds, run.log);
  if (!docker) return [];
  return followed.map((state) => ({
    state,
    attach: async (onOutput, storedBytes) => {
      // The log is replayed from its start: skip exactly what the server already stored,
      // once everything the dead worker spooled has been delivered, and number the rest
      // after every chunk the server has seen (the spool does not keep the numbers it used;
      // a number seen again would be taken for a chunk sent twice).
      await run.spool.flush(state.executionId);
      const stored = await run.storedOutput(state.executionId);
      run.spool.resumeSeq(state.executionId, stored.next_seq);
      const skip = { stdout: stored.truncated ? Infinity : stored.stdout, stderr: stored.truncated ? Infinity : stored.stderr };
      storedBytes(stored.stdout + stored.stderr);
      return docker.reattach(state.executionId, (stream, chunk) => {
        const drop = Math.min(skip[stream], chunk.length);
        skip[stream] -= drop;
        if (drop < chunk.length) onOutput(stream, chunk.subarray(drop));
      });
    },
  }));
}
