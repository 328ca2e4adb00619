// Bare tasks' processes are found by their environment, not by a file written for every task:
// each bare task's TEMP lies in its worker's work folder (runners/types.ts, labqEnv), and
// /proc/PID/environ keeps the environment a process was started with. A task's processes
// form a session of their own, led by the task's interpreter (or, without the launcher, the
// runner's wrapper), whose environment nothing changes.
// Three questions are asked so: at start, which groups an earlier run of this worker left
// running (it was killed with -9 and could not end them; the whole group goes); after a
// task ended, whether a process it started still runs out of its group (workFolders.ts);
// and after the task launcher died during a start, which processes that start left
// (runners/shell.ts).
// Containers are not found so (their TEMP is a path inside them): the worker re-attaches to
// them instead.
import { readdirSync, readFileSync } from 'node:fs';
import { processGroup, processStatSync } from './procStat.js';

export interface BareTaskProcess {
  pid: number;
  /** The execution whose TEMP the process was started with. */
  executionId: number;
}

/**
 * The processes started with a TEMP under `workDir`, with the execution each belongs to. With
 * `startedSince`, only those started since the earliest of these pids are read: pids grow
 * until they wrap, and the kernel says the last one it gave (`ns_last_pid`). When that cannot
 * be told, or the pids wrapped since one of them, all are read; a caller that cannot rule
 * out a whole turn of the pids (forksSinceBoot) passes none. The worker's own process is never one.
 */
export function bareTaskProcesses(workDir: string, startedSince?: number[]): BareTaskProcess[] {
  const prefix = Buffer.from(`TEMP=${workDir}/`);
  // Listed before the last pid is read: every pid listed was given by then.
  const names = readdirSync('/proc');
  let last = NaN;
  if (startedSince?.length) {
    try {
      last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    } catch {
      // not told: every process is read
    }
  }
  const from = startedSince?.length ? Math.min(...startedSince) : NaN;
  const range = Number.isFinite(last) && startedSince!.every((pid) => pid <= last);
  return withEnviron(names, (environ) => executionOf(environ, prefix), (pid) => range && (pid < from || pid > last))
    .map(({ pid, found }) => ({ pid, executionId: found }));
}

/** The processes started with exactly this TEMP: those of one execution, whatever its folders' layout. */
export function startedWithTemp(temp: string): number[] {
  const entry = Buffer.from(`TEMP=${temp}\0`);
  return withEnviron(readdirSync('/proc'), (environ) => (variablesAt(environ, entry).next().done ? null : true)).map(({ pid }) => pid);
}

/**
 * The processes of `names` (a listing of /proc), but this one and those `skip` rules out,
 * whose environment `match` finds something in, with what it found.
 */
function withEnviron<T>(names: string[], match: (environ: Buffer) => T | null, skip: (pid: number) => boolean = () => false): Array<{ pid: number; found: T }> {
  const out: Array<{ pid: number; found: T }> = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || skip(pid)) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${name}/environ`);
    } catch {
      // gone meanwhile, or not ours to read
      continue;
    }
    const found = match(environ);
    if (found !== null) out.push({ pid, found });
  }
  return out;
}

/** Where the variables of `environ` (NUL-separated) that start with `prefix` begin. */
function* variablesAt(environ: Buffer, prefix: Buffer): Generator<number> {
  for (let at = environ.indexOf(prefix); at !== -1; at = environ.indexOf(prefix, at + 1)) {
    if (at === 0 || environ[at - 1] === 0) yield at;
  }
}

/**
 * The process groups of the session `sid` leads, its own first. A bare task leads a
 * session of its own, and what the task runs may make groups in it (`timeout`, a shell's
 * `set -m`, a subprocess started in a new group): a signal meant for the task goes to each.
 * One walk of /proc serves every call of the same turn of the event loop: a worker that
 * stops a hundred tasks at once costs one walk, not a hundred.
 */
export function sessionGroups(sid: number): number[] {
  return [...new Set([sid, ...(groupsBySession().get(sid) ?? [])])];
}

let sessionsThisTurn: Map<number, number[]> | null = null;

function groupsBySession(): Map<number, number[]> {
  if (sessionsThisTurn) return sessionsThisTurn;
  const sessions = new Map<number, number[]>();
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    // not told: each session is its leader's group alone
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const fields = processStatSync(name);
    if (!fields) continue;
    const sid = Number(fields[3]);
    (sessions.get(sid) ?? sessions.set(sid, []).get(sid)!).push(Number(fields[2]));
  }
  sessionsThisTurn = sessions;
  setImmediate(() => (sessionsThisTurn = null));
  return sessions;
}

/** How many processes (and threads) the kernel has started since boot: a whole turn of the pids takes about `pid_max` of them. */
export function forksSinceBoot(): number {
  try {
    return Number(/^processes (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** The largest pid plus one: after that many starts at most, pids have come round again. */
export const PID_MAX = (() => {
  try {
    return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  } catch {
    return NaN;
  }
})();

/** The process groups of the bare tasks under `workDir` (or of one execution): never the worker's own. */
export async function bareTaskGroups(workDir: string, executionId?: number): Promise<number[]> {
  const own = await processGroup(process.pid);
  const groups = new Set<number>();
  for (const p of bareTaskProcesses(workDir)) {
    if (executionId !== undefined && p.executionId !== executionId) continue;
    const group = await processGroup(p.pid);
    if (group !== null && group > 1 && group !== own) groups.add(group);
  }
  return [...groups];
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

/** The execution named by the variable of `environ` (NUL-separated) that starts with `prefix` and goes on with `<id>/`, if any. */
function executionOf(environ: Buffer, prefix: Buffer): number | null {
  for (const at of variablesAt(environ, prefix)) {
    const start = at + prefix.length;
    let end = start;
    while (end < environ.length && environ[end]! >= 0x30 && environ[end]! <= 0x39) end++;
    if (end > start && environ[end] === 0x2f) return Number(environ.subarray(start, end).toString());
  }
  return null;
}

/**
 * Whose zombies no one will reap: this process's when it is PID 1 (a container's entry point
 * without an init). It inherits the tasks of a launcher that died, and Node waits only for
 * the children it started itself. Anyone else's zombie is reaped soon by its parent.
 */
export const neverReaped = (pid: number): number | null => (pid === 1 ? pid : null);
const NEVER_REAPED = neverReaped(process.pid);

/**
 * Whether any process of the group `pid` leads is left, not counting the zombies of
 * `unreaped`: their signals still reach the group, and counted, the task would never end.
 */
export function groupExists(pid: number, unreaped: number | null = NEVER_REAPED): boolean {
  try {
    process.kill(-pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  if (unreaped === null) return true;
  const leader = processStatSync(pid);
  return (leader !== null && !reapedNever(leader, unreaped) && Number(leader[2]) === pid) || liveMember(pid, unreaped);
}

/** A zombie whose parent is `unreaped`. */
const reapedNever = (fields: string[], unreaped: number) => fields[0] === 'Z' && Number(fields[1]) === unreaped;

/** Whether a process of the group `group` is left that is not a zombie of `unreaped`: a walk of /proc. */
function liveMember(group: number, unreaped: number): boolean {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const fields = processStatSync(name);
    if (fields && Number(fields[2]) === group && !reapedNever(fields, unreaped)) return true;
  }
  return false;
}
