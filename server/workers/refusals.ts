// Why a worker's exchange round is not served: its worker is unknown or deleted, another
// daemon instance registered under its name since, or the worker already gave up on this
// poll for a newer one. Each is answered with its error and changes nothing; the other
// rounds of its batch go on.
import { WORKER_TAKEN_OVER } from '../../shared/schemas/worker.js';
import { notFound, ProblemError } from '../errors.js';

class WorkerTakenOver extends ProblemError {
  constructor(name: string) {
    super(409, WORKER_TAKEN_OVER, `another worker daemon instance registered as "${name}" since this one did: register again, or stop this daemon`);
  }
}

class StalePoll extends ProblemError {
  constructor(seq: number, seen: number) {
    super(409, 'Stale poll', `poll ${seq} of this worker was overtaken by poll ${seen}: the worker gave up on it`);
  }
}

/** What a round says about itself, and what its worker's locked row says. */
export interface Asking { workerId: number; instance: string; seq?: number }
export interface Known { name: string; instance: string | null; deleted_at: string | null; poll_seq: number }

/** Why this round is not served, if it is not. */
export function refusal(round: Asking, worker: Known | undefined): Error | null {
  if (!worker) return notFound(`worker ${round.workerId}`);
  // Its daemon registers again on a 404, which brings the worker back.
  if (worker.deleted_at !== null) return new ProblemError(404, 'Not found', `worker ${round.workerId} was deleted: register again`);
  // Another daemon registered under this name since: its holdings are not this one's to declare.
  if (worker.instance !== round.instance) return new WorkerTakenOver(worker.name);
  // A poll the worker gave up on, served after a newer one: what it holds is out of date.
  if (round.seq !== undefined && round.seq < worker.poll_seq) return new StalePoll(round.seq, worker.poll_seq);
  return null;
}
