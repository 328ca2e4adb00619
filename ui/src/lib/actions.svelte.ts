// What an action button does around its API call: one at a time, a notice with the outcome
// (what changed, or why the server refused), and the refusal kept in the notice rather than
// thrown, so that every button in the UI reports the same way.
import { confirmAction } from './confirm.svelte.js';
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

/** What an action asks before it runs (confirmAction): the dialog's title, text and button. */
export interface Ask {
  title: string;
  text: string;
  confirm: string;
  danger?: boolean;
}

/**
 * The actions of one component's buttons: one call at a time (`busy` while it runs, which
 * disables them), asked first when it stops work or cannot be undone, and reported by `act`.
 */
export class Actions {
  busy = $state(false);

  /** The answer; undefined when the user said no or the server refused (a notice says why). */
  async run<T>(call: () => Promise<T>, done: string | ((answer: T) => string), ask?: Ask): Promise<T | undefined> {
    if (ask && !(await confirmAction(ask.title, ask.text, { confirm: ask.confirm, danger: ask.danger ?? false }))) return undefined;
    this.busy = true;
    try {
      return await act(call, done);
    } finally {
      this.busy = false;
    }
  }
}
