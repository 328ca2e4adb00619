// The fields of /proc/PID/stat after the command name, which may hold spaces and parentheses:
// they start after its last ')'. Field 0 here is the state (the third of the file), 2 the
// process group, 3 the session, 19 the start time.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** The fields of a stat file's text, from the state on. */
export const statFields = (stat: string): string[] => stat.slice(stat.lastIndexOf(')') + 2).split(' ');

/** The fields of a process's stat, null once it is gone. */
export async function processStat(pid: number | string): Promise<string[] | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat === null ? null : statFields(stat);
}

/** The same, read at once: for a walk of /proc within one turn of the event loop. */
export function processStatSync(pid: number | string): string[] | null {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** A process's group, null once it is gone. */
export async function processGroup(pid: number | string): Promise<number | null> {
  const fields = await processStat(pid);
  return fields ? Number(fields[2]) : null;
}

/** A process's session, null once it is gone. */
export async function processSession(pid: number | string): Promise<number | null> {
  const fields = await processStat(pid);
  return fields ? Number(fields[3]) : null;
}
