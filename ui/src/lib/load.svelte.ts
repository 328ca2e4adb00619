// What a view has read from the API, with its loading and error states, so that every view
// shows the same three states the same way. A reload keeps the data on screen while it runs
// (a live refresh must not flash a spinner), and an answer that arrives after a newer
// request started is dropped.
import { LabqApiError, LabqUnreachableError } from '../../../shared/client.js';
import { session } from './session.svelte.js';

export class Loaded<T> {
  data = $state<T | undefined>(undefined);
  error = $state<string | null>(null);
  loading = $state(false);
  private serial = 0;

  constructor(private readonly read: () => Promise<T>) {}

  async load(): Promise<void> {
    const serial = ++this.serial;
    this.loading = true;
    try {
      const data = await this.read();
      if (serial !== this.serial) return;
      this.data = data;
      this.error = null;
    } catch (error) {
      if (serial !== this.serial) return;
      if (error instanceof LabqApiError && error.status === 401) session.expired();
      this.error = describe(error);
    } finally {
      if (serial === this.serial) this.loading = false;
    }
  }
}

/** What went wrong, in a sentence the user can act on. */
export function describe(error: unknown): string {
  if (error instanceof LabqApiError) {
    const fields = error.problem.errors;
    const detail = fields?.length ? fields.map((f) => `${f.field}: ${f.message}`).join('; ') : error.problem.detail;
    return `${error.problem.title}${detail ? ` — ${detail}` : ''}`;
  }
  if (error instanceof LabqUnreachableError) return 'The server cannot be reached.';
  return (error as Error).message ?? String(error);
}
