// A worker daemon instance's identity and its hold on its state directory.
//
// The identity is a UUID made on the first start and kept in `<state dir>/identity.json`:
// a daemon restarted with the same state directory is the same instance (it re-attaches to
// what it left running), a daemon with another state directory is another instance, even
// under the same name, and the server refuses to let two live instances share a name.
//
// Two daemons on one state directory would share spool files, work folders and identity,
// and so destroy each other's work unseen: the first one holds `<state dir>/daemon.pid`
// (its pid and process start time, so a reused pid is never taken for it) and a second one
// is refused while the first lives.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { processStartTime, writeAtomically } from './state.js';

/** State directories held by daemons of this process (a pid check cannot tell them apart). */
const heldHere = new Set<string>();

export class StateDirInUse extends Error {}

/** A JSON file's content, or null if it is missing or unreadable (a crash mid-write). */
async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Takes the state directory for this daemon; the returned function gives it back. */
export async function holdStateDir(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'daemon.pid');
  const holder = await readJson<{ pid: number; startTime: string }>(file);
  const alive = holder !== null && (holder.pid === process.pid
    ? heldHere.has(dir)
    : (await processStartTime(holder.pid)) === holder.startTime);
  if (alive) {
    throw new StateDirInUse(
      `another worker daemon (pid ${holder.pid}) runs with the state directory ${dir}: ` +
      'give this one a name of its own (labq worker --name NAME) or a state directory of its own (--state-dir DIR)');
  }
  writeAtomically(file, JSON.stringify({ pid: process.pid, startTime: await processStartTime(process.pid) }));
  heldHere.add(dir);
  return async () => {
    heldHere.delete(dir);
    await rm(file, { force: true });
  };
}

/** This instance's identity: read from the state directory, or made and saved on the first start. */
export async function instanceIdentity(dir: string): Promise<string> {
  const file = join(dir, 'identity.json');
  const saved = await readJson<{ instance?: unknown }>(file);
  if (typeof saved?.instance === 'string') return saved.instance;
  const instance = randomUUID();
  writeAtomically(file, JSON.stringify({ instance }) + '\n');
  return instance;
}
