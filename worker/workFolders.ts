// The folders of bare executions, reused. Every execution gets `work/<id>` with `input`,
// `output`, `tmp` and `resource` in it, and its command written to `tmp/.labq-command`.
// Made and removed anew for each task, those six inodes were most of a worker's CPU with
// short tasks: ext4 without a journal makes each new inode skip past the ones freed in the
// last minutes (`recently_deleted`), a cost that grows with the rate of tasks. So a bare
// execution's folders come from a pool of emptied sets, renamed to `work/<id>` (a rename
// allocates no inode), and go back to the pool, emptied, when it ends; the command file is
// kept and overwritten. A set that cannot be emptied, or one past the pool's bound, is
// removed as before. So is one a process of its task may still use (it left the task's group
// and runs on): a set given back waits until a look through /proc (orphans.ts) finds no
// process started with its TEMP; such a stray is killed, as a container's last processes are
// when its main one ends, and its set removed. A set is emptied only once the look found none
// of its processes running on, so none the look can see writes into it after: one read of
// its folders does, where emptying before the look needed a second read after it.
// The look reads every process started since the task's own, a cost that grows with the rate
// of tasks, so it is made for all the sets given back within a tick at once. Container executions keep folders of their own: a container
// re-attached after a restart still mounts them, and they were opened to its user.
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { bareTaskProcesses, forksSinceBoot, PID_MAX } from './orphans.js';
import { COMMAND_FILE, COMMAND_MODE } from './runners/types.js';

/** The folders of an execution, under its base, and the names the runners give them. */
export const SUBFOLDERS = { input: 'input', output: 'output', temp: 'tmp', resource: 'resource' } as const;
const NAMES = new Set<string>(Object.values(SUBFOLDERS));
/** Emptied sets kept for reuse at most: a worker runs about that many tasks at once at most. */
const POOL_MAX = 256;
/** This process's user, asked once: process.getuid() is a system call at each call. */
const UID = process.getuid?.();
/** How long sets given back gather before one look for processes still using them. */
const SETTLE_MS = 100;

/** A set given back whose task started processes: emptied and kept once none of them runs on. */
interface Settling {
  /** Null when the set was not kept: the look is for its strays alone. */
  set: string | null;
  executionId: number;
  firstPid: number;
  /** forksSinceBoot() when the set was taken: enough starts since, and the pids may have come round past firstPid. */
  forks: number;
}

/**
 * An execution's folders under its base: one recursive mkdir for the base, then plain ones
 * (a recursive mkdir costs about twice a plain one on ext4).
 */
export function makeFolders(base: string): void {
  mkdirSync(base, { recursive: true });
  for (const name of NAMES) {
    try {
      mkdirSync(join(base, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * Removes everything in `dir` but the entries `keep` names; never follows a link. Most tasks
 * leave nothing, and a look costs one read of the folder; what is there (a large output, say)
 * is removed off the event loop.
 */
async function emptyFolder(dir: string, keep: (name: string) => boolean): Promise<void> {
  for (const name of readdirSync(dir)) if (!keep(name)) await rm(join(dir, name), { recursive: true, force: true });
}

export class WorkFolders {
  private readonly free: string[] = [];
  private readonly settling: Settling[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** The kernel's count of started processes when each set out was taken (read at most once a tick: see forksLately). */
  private readonly takenAt = new Map<string, number>();
  private forksRead = { at: -Infinity, count: NaN };
  private made = 0;
  /** Sets being emptied: they count to the pool's bound. */
  private reclaiming = 0;
  private readonly pool: string;
  /** The mode a folder made here gets (the umask's): a set whose folders a task changed is mended. */
  private mode = 0o755;
  /** Sets being given back, emptied or removed: close() waits for them. */
  private readonly underWay = new Set<Promise<unknown>>();

  /** `forks` counts the processes the kernel has started (forksSinceBoot; a test stands in for it). */
  constructor(private readonly workDir: string, private readonly forks: () => number = forksSinceBoot) {
    this.pool = join(workDir, '.free');
  }

  /** Starts with an empty pool: the sets an earlier run left are removed once. */
  open(): void {
    rmSync(this.pool, { recursive: true, force: true });
    mkdirSync(this.pool, { recursive: true });
    this.mode = lstatSync(this.pool).mode & 0o7777;
  }

  /**
   * Removes the folders an earlier run of the worker left under `work/` (it was killed with
   * -9 while its tasks ran), but those of the executions named: the containers it re-attaches to.
   */
  async removeLeftovers(keep: ReadonlySet<number>, log: (line: string) => void): Promise<void> {
    for (const name of await readdir(this.workDir).catch(() => [] as string[])) {
      if (join(this.workDir, name) === this.pool || keep.has(Number(name))) continue;
      // One that cannot be removed (a task made it read-only) stays, as it would have: the worker starts.
      await rm(join(this.workDir, name), { recursive: true, force: true }).catch((error) => log(`cannot remove ${name} from ${this.workDir}: ${(error as Error).message}`));
    }
  }

  /** Gives `base` its four empty folders, from the pool when it has a set. */
  take(base: string): void {
    const forks = this.forksLately();
    const set = this.free.pop();
    let reused = false;
    if (set !== undefined) {
      try {
        renameSync(set, base);
        reused = true;
      } catch {
        rmSync(set, { recursive: true, force: true });
      }
    }
    if (!reused) makeFolders(base);
    this.takenAt.set(base, forks);
  }

  /**
   * Keeps `base` for another execution, emptied. `firstPid` is the task's first process, once
   * its group is gone (null when none was started): the set is emptied and kept only after
   * the next look finds none of its processes running on. A base the task changed (a link
   * in its place, another mode or owner) is removed.
   */
  give(base: string, firstPid: number | null): Promise<void> {
    return this.track(this.giveBack(base, firstPid));
  }

  /**
   * Settles the sets given back now rather than at the next tick, and resolves once every set
   * is in the pool or removed: a stopped worker leaves nothing writing under its folder (the
   * one who stopped it may remove it next).
   */
  async close(): Promise<void> {
    while (this.settling.length || this.underWay.size) {
      await this.settle();
      await Promise.all(this.underWay);
    }
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.underWay.add(work);
    void work.finally(() => this.underWay.delete(work)).catch(() => undefined);
    return work;
  }

  private async giveBack(base: string, firstPid: number | null): Promise<void> {
    const forks = this.takenAt.get(base) ?? NaN;
    this.takenAt.delete(base);
    if (this.free.length + this.settling.length + this.reclaiming < POOL_MAX && this.intact(base)) {
      const set = join(this.pool, String(this.made++));
      try {
        renameSync(base, set);
        if (firstPid === null) await this.reclaim(set);
        else this.lookAt(set, Number(basename(base)), firstPid, forks);
        return;
      } catch {
        // Removed below, from wherever it is.
        await rm(set, { recursive: true, force: true }).catch(() => undefined);
      }
    }
    // What cannot be removed (a task made it read-only) stays, as it always did.
    await rm(base, { recursive: true, force: true }).catch(() => undefined);
    if (firstPid !== null) this.lookAt(null, Number(basename(base)), firstPid, forks);
  }

  /**
   * Empties a set no process uses and puts it in the pool. Whatever the task did to its
   * folders is undone: what it left is removed, a folder it replaced (by a link, say),
   * removed or whose mode or owner it changed is made anew, and the command file is kept
   * only as a plain file of one link. Nothing is ever followed through a link. A set that
   * cannot be emptied is removed.
   */
  private async reclaim(set: string): Promise<void> {
    this.reclaiming++;
    try {
      if (!this.intact(set)) throw new Error('not kept');
      await emptyFolder(set, (name) => NAMES.has(name));
      for (const name of NAMES) {
        const dir = join(set, name);
        if (this.intact(dir)) {
          await emptyFolder(dir, (entry) => keptIn(name, entry) && plainFile(join(dir, entry)));
        } else {
          await rm(dir, { recursive: true, force: true });
          mkdirSync(dir);
        }
      }
      this.free.push(set);
    } catch {
      await rm(set, { recursive: true, force: true }).catch(() => undefined);
    } finally {
      this.reclaiming--;
    }
  }

  private lookAt(set: string | null, executionId: number, firstPid: number, forks: number): void {
    this.settling.push({ set, executionId, firstPid, forks });
    this.timer ??= setTimeout(() => void this.settle(), SETTLE_MS).unref();
  }

  /**
   * The count of started processes, read again at most once a tick: /proc/stat grows with
   * the host's CPUs and interrupts, and is not worth a read per task. An older count only
   * makes the look read every process sooner.
   */
  private forksLately(): number {
    const now = Date.now();
    if (now - this.forksRead.at >= SETTLE_MS) this.forksRead = { at: now, count: this.forks() };
    return this.forksRead.count;
  }

  /**
   * One look through /proc for all the sets given back since the last: a set none of whose
   * processes runs on is emptied and kept; the strays of the others are killed and their
   * sets removed, with what they may have written. Resolves once the sets kept are in the pool.
   */
  async settle(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const settling = this.settling.splice(0);
    if (settling.length === 0) return;
    let used: Set<number>;
    try {
      // Half a turn of the pids is a safe bound: a pid is given again only after the others.
      const now = this.forks();
      const turned = settling.some((s) => !(now - s.forks < PID_MAX / 2));
      const ended = new Set(settling.map((s) => s.executionId));
      const strays = bareTaskProcesses(this.workDir, turned ? undefined : settling.map((s) => s.firstPid)).filter((p) => ended.has(p.executionId));
      for (const { pid } of strays) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile, or not this worker's to kill
        }
      }
      used = new Set(strays.map((p) => p.executionId));
    } catch {
      // /proc could not be read: none is known to be free.
      used = new Set(settling.map((s) => s.executionId));
    }
    const reclaims: Promise<void>[] = [];
    for (const { set, executionId } of settling) {
      if (set === null) continue;
      if (!used.has(executionId)) reclaims.push(this.reclaim(set));
      // A stray may have written into it: removed off the event loop, and what it keeps stays.
      else void this.track(rm(set, { recursive: true, force: true }).catch(() => undefined));
    }
    await this.track(Promise.all(reclaims));
  }

  /** A folder as this worker made it: a real one, its mode and owner unchanged. */
  private intact(dir: string): boolean {
    try {
      const st = lstatSync(dir);
      return st.isDirectory() && (st.mode & 0o7777) === this.mode && st.uid === UID;
    } catch {
      return false;
    }
  }
}

/** What an emptied set keeps in its folder `name`: the command file, in the temp folder. */
const keptIn = (name: string, entry: string): boolean => name === SUBFOLDERS.temp && entry === COMMAND_FILE;

/** The command file as writeScript made it: one link, its mode and owner unchanged. */
function plainFile(path: string): boolean {
  const st = lstatSync(path);
  return st.isFile() && st.nlink === 1 && (st.mode & 0o7777) === COMMAND_MODE && st.uid === UID;
}
