// What an action button does around its API call: one at a time, a notice with the outcome
// (what changed, or why the server refused), and the refusal kept in the notice rather than
// thrown, so that every button in the UI reports the same way.
import { describe } from './load.svelte.js';

export interface Notice {
  id: number;
  kind: 'ok' | 'error';
  text: string;
}

class Notices {
  list = $state<Notice[]>([]);
  private serial = 0;

  add(kind: Notice['kind'], text: string): void {
    const id = ++this.serial;
    this.list = [...this.list.slice(-4), { id, kind, text }];
    setTimeout(() => this.dismiss(id), kind === 'ok' ? 5000 : 12000);
  }

  dismiss(id: number): void {
    this.list = this.list.filter((n) => n.id !== id);
  }
}

export const notices = new Notices();

/** Runs `call`; on success shows `done` (text, or made from the answer), on failure the server's reason. */
export async function act<T>(call: () => Promise<T>, done: string | ((answer: T) => string)): Promise<T | undefined> {
  try {
    const answer = await call();
    notices.add('ok', typeof done === 'string' ? done : done(answer));
    return answer;
  } catch (error) {
    notices.add('error', describe(error));
    return undefined;
  }
}
