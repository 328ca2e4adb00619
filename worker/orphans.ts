// Bare tasks that an earlier run of this worker left running (it was killed with -9 and could
// not end them) are found by their environment, not by a file written for every task: each
// bare task's TEMP lies in its worker's work folder (runners/types.ts, labqEnv), and
// /proc/PID/environ keeps the environment a process was started with. A task's processes
// form a group of their own, led by the runner's wrapper, whose environment nothing changes;
// the whole group goes. Containers are not found so (their TEMP is a path inside them): the
// worker re-attaches to them instead.
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { processGroup } from './procStat.js';

/** The process groups whose processes were started with a TEMP under `workDir` (or that of one execution). */
export async function bareTaskGroups(workDir: string, executionId?: number): Promise<number[]> {
  const prefix = Buffer.from(executionId === undefined ? `TEMP=${workDir}/` : `TEMP=${workDir}/${executionId}/`);
  const own = await processGroup(process.pid);
  const groups = new Set<number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const environ = await readFile(`/proc/${name}/environ`).catch(() => null);
    if (!environ || !startsAVariable(environ, prefix)) continue;
    const group = await processGroup(Number(name));
    if (group !== null && group > 1 && group !== own) groups.add(group);
  }
  return [...groups];
}

/**
 * Whether a process started by the bare task of `base` still runs once its group is gone: one
 * that left the group (setsid, a daemon) keeps its environment, and may keep a folder of the
 * execution as its own, so those folders must not serve another execution. Only processes
 * started since the task's own (`firstPid`) are read: pids grow until they wrap, and the
 * kernel says the last one it gave (`ns_last_pid`); when that cannot be told, all are read.
 */
export function strayProcess(base: string, firstPid: number): boolean {
  const prefix = Buffer.from(`TEMP=${base}/`);
  let last = NaN;
  try {
    last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  } catch {
    // not told: every process is read
  }
  const range = Number.isFinite(last) && last >= firstPid;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || (range && (pid < firstPid || pid > last))) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${name}/environ`);
    } catch {
      continue;
    }
    if (startsAVariable(environ, prefix)) return true;
  }
  return false;
}

/** Kills the groups of the bare tasks an earlier run left; returns how many. */
export async function killOrphans(workDir: string): Promise<number> {
  const groups = await bareTaskGroups(workDir);
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return groups.length;
}

/** Whether one of the NUL-separated variables of `environ` starts with `prefix`. */
function startsAVariable(environ: Buffer, prefix: Buffer): boolean {
  for (let at = environ.indexOf(prefix); at !== -1; at = environ.indexOf(prefix, at + 1)) {
    if (at === 0 || environ[at - 1] === 0) return true;
  }
  return false;
}
