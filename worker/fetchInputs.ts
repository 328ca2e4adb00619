// Fetching what a task needs before it runs: its inputs into the execution's input folder and
// its resources into the worker's cache, all at once under the worker's transfer bound, with
// a check first that no two inputs land a file on one path; then several resources merged
// into one folder. Apart from the execution, which only says when this happens and under
// which timeout, so that what a download phase does reads in one place.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Task } from '../shared/schemas/task.js';
import { maskUri } from '../shared/uri.js';
import type { SourceFile } from './copy.js';
import type { PhaseProgress } from './progress.js';
import type { ResourceCache, ResourceHandle } from './resourceCache.js';
import type { Slots } from './slots.js';
import { contentAmong, download, inputClash, listSource } from './transfers.js';

const execFileAsync = promisify(execFile);

export interface FetchContext {
  /** The worker's bound on files in transfer at once. */
  transfers: Slots;
  resources: ResourceCache;
  progress: PhaseProgress;
}

/**
 * Fetches the task's inputs and resources. `inFlight` holds the URIs under way (a URI leaves
 * it when it is done, not when it fails: a timeout's message names it); `took` is told of each
 * cache entry as it is taken, for the caller to release whatever happens. Returns the
 * resources' folders in the cache, in the task's order.
 */
export async function fetchAll(task: Task, inputDir: string, ctx: FetchContext, signal: AbortSignal, inFlight: Set<string>, took: (handle: ResourceHandle) => void): Promise<string[]> {
  const track = <T>(uri: string, work: Promise<T>) => {
    inFlight.add(uri);
    return work.then((value) => (inFlight.delete(uri), value));
  };
  // The first failure stops the others, and all have ended before this goes on: none
  // writes into the folders once they are emptied for another execution.
  const failed = new AbortController();
  const stopOthers = (error: unknown) => failed.abort(error);
  const options = { signal: AbortSignal.any([signal, failed.signal]), limit: ctx.transfers, progress: ctx.progress };
  const listed = await listInputs(task.inputs, track, options.signal, stopOthers);
  // In the task's order, whichever is ready first: the order in which they merge.
  const resources: string[] = [];
  await Promise.all([
    ...task.inputs.map((uri, i) => track(uri, download(uri, inputDir, { ...options, files: listed?.[i] })).catch(stopOthers)),
    ...task.resources.map((spec, i) => track(spec, ctx.resources.prepare(spec, options).then((handle) => {
      took(handle);
      resources[i] = handle.dir;
    })).catch(stopOthers)),
  ]);
  // The first failure is the abort's reason (a later abort changes nothing).
  if (failed.signal.aborted) throw failed.signal.reason;
  return resources;
}

/**
 * What each input delivers, listed before any is fetched when a folder's content is among
 * them (null otherwise): two inputs that land a file on one path are a failure that says
 * which, rather than one file silently replacing the other. The downloads then get the very
 * files listed.
 */
async function listInputs(inputs: string[], track: <T>(uri: string, work: Promise<T>) => Promise<T>, signal: AbortSignal, stop: (error: unknown) => void): Promise<SourceFile[][] | null> {
  if (!contentAmong(inputs)) return null;
  // The first failure fails the task: the other listings (a silent server's, say) must not go on after it.
  const listed = await Promise.all(inputs.map((uri) => track(uri, listSource(uri, signal)).catch((error: unknown) => {
    stop(error);
    throw error;
  })));
  const clash = inputClash(listed);
  if (clash) {
    throw new Error(`inputs[${clash.index}] (${maskUri(inputs[clash.index]!)}) delivers ${clash.path} to the input folder, as inputs[${clash.earlier}] (${maskUri(inputs[clash.earlier]!)}) does: one would replace the other (rename one at its source, or take it as a resource with |mv:DIR)`);
  }
  return listed;
}

/**
 * One resource is mounted straight from the worker's cache: its folder is returned. Several
 * are merged by hard links (no copy of the data) into `into`, in the task's order: a later
 * resource's file replaces an earlier one's at the same path; null then, as for none.
 */
export async function mergeResources(dirs: string[], into: string): Promise<string | null> {
  if (dirs.length === 1) return dirs[0]!;
  for (const dir of dirs) await execFileAsync('cp', ['-al', dir + '/.', into]);
  return null;
}
