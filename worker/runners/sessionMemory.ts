// Peak memory of bare tasks, which have no cgroup of their own: the kernel keeps no peak for a
// session, so the processes of a task's session (its wrapper leads it: shell.ts) are sampled
// from /proc, those of every group in it (a task's `timeout 3600 bwa …` runs bwa in a group
// of its own). One scan per interval serves every task of the worker process: it reads each
// process's stat for its session, then the status (VmRSS, VmHWM) of the members; a session's
// leader alone is also looked at when it starts. A task's peak is the largest of, over all
// samples, the sum of its members' resident sets and the largest peak of one member (VmHWM,
// the kernel's own peak for that process, which keeps a peak reached between samples). It is
// a lower bound: a process that lives less than an interval is never seen, and the sum of two
// processes' peaks reached at different times is not counted. Pages shared between members
// are counted once per member.
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { processSession } from '../procStat.js';

/** Groups are sampled this often. */
export const GROUP_SAMPLE_MS = 1000;

const followed = new Map<number, { peak: number | null }>();
let timer: NodeJS.Timeout | null = null;
let scanning: Promise<void> | null = null;

/** Follows the session `sid` leads from now on; the returned function stops and gives its peak in bytes (null if never seen). */
export function followSessionMemory(sid: number): () => number | null {
  const entry = { peak: null as number | null };
  followed.set(sid, entry);
  timer ??= setInterval(() => void (scanning ??= scan().finally(() => (scanning = null))), GROUP_SAMPLE_MS).unref();
  // A first look at its leader alone: a scan of every process for each task started would
  // run without pause under short tasks, and the interval's scans see the rest.
  sampleLeader(sid, entry);
  return () => {
    followed.delete(sid);
    if (followed.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
    return entry.peak;
  };
}

async function scan(): Promise<void> {
  const members = new Map<number, number[]>();
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const sid = (await processSession(name)) ?? NaN;
    if (followed.has(sid)) (members.get(sid) ?? members.set(sid, []).get(sid)!).push(Number(name));
  }
  for (const [sid, pids] of members) {
    let resident = 0;
    let largest = 0;
    for (const pid of pids) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      resident += kilobytes(status, 'VmRSS');
      largest = Math.max(largest, kilobytes(status, 'VmHWM'));
    }
    const entry = followed.get(sid);
    const sample = Math.max(resident, largest) * 1024;
    if (entry && sample > 0) entry.peak = Math.max(entry.peak ?? 0, sample);
  }
}

/** Read at once: one small file of /proc costs less than a trip through the thread pool. */
function sampleLeader(sid: number, entry: { peak: number | null }): void {
  let status = '';
  try {
    status = readFileSync(`/proc/${sid}/status`, 'utf8');
  } catch {
    // gone already
  }
  const sample = Math.max(kilobytes(status, 'VmRSS'), kilobytes(status, 'VmHWM')) * 1024;
  if (sample > 0) entry.peak = Math.max(entry.peak ?? 0, sample);
}

/** The fields read from /proc/PID/status, compiled once: they are read at every task's start. */
const FIELDS = { VmRSS: /^VmRSS:\s+(\d+) kB/m, VmHWM: /^VmHWM:\s+(\d+) kB/m };

function kilobytes(status: string, field: keyof typeof FIELDS): number {
  const m = FIELDS[field].exec(status);
  return m ? Number(m[1]) : 0;
}
