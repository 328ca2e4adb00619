// The worker's exchanges as requests: an exchange parked on the server (it carried no
// reports) is given up on when reports come or a slot frees, without hanging up. Cut short, a
// request closed its connection, and the next exchange opened a new one (a TCP handshake, and
// a TLS one over HTTPS): two per task when short tasks came one at a time. The server answers
// a parked exchange at once when the next exchange of its worker reaches the same server
// process (server/workers/wakeups.ts), so the connection goes back to the worker's pool. Its
// answer is not read: what its round may have claimed is offered again to the next exchange,
// as after an answer lost on the way. One parked on another server process waits out its
// park there, until the next exchange says it gave up on it (`gave_up`): the process it
// reached tells the others. At most one is left to its answer, and an older one still
// unanswered is cut short then, as before.
import { deadline } from './deadline.js';

/** What `send` resolves with when the exchange was given up on. */
export const GIVEN_UP = Symbol('given up');

export class Exchanges {
  /** Cuts short the exchange given up on and still unanswered. */
  private lingering: AbortController | null = null;
  /** The number of the last exchange given up on, until an answered one has said so. */
  private givenUp: number | undefined;

  /**
   * Sends exchange number `seq` (`call`, with the signal that ends it and the number of one
   * given up on to say), given up on when `news` aborts first. It is cut short after `ms`
   * without an answer (a connection that went dark never errors by itself), or when
   * `stopping` aborts.
   */
  async send<T>(
    seq: number, call: (signal: AbortSignal, gaveUp: number | undefined) => Promise<T>, ms: number, stopping: AbortSignal, news: AbortSignal,
  ): Promise<T | typeof GIVEN_UP> {
    const cut = new AbortController();
    const bound = deadline(ms, [stopping, cut.signal]);
    const told = this.givenUp;
    const answer = call(bound.signal, told);
    let onNews = (): void => undefined;
    const givenUp = new Promise<typeof GIVEN_UP>((resolve) => {
      onNews = () => resolve(GIVEN_UP);
      if (news.aborted) onNews();
      else news.addEventListener('abort', onNews, { once: true });
    });
    try {
      const first = await Promise.race([answer, givenUp]);
      if (first !== GIVEN_UP) {
        bound.clear();
        if (this.givenUp === told) this.givenUp = undefined;
        return first;
      }
    } catch (error) {
      bound.clear();
      throw error;
    } finally {
      news.removeEventListener('abort', onNews);
    }
    this.lingering?.abort();
    this.lingering = cut;
    this.givenUp = seq;
    void answer.catch(() => undefined).finally(() => {
      bound.clear();
      if (this.lingering === cut) this.lingering = null;
    });
    return GIVEN_UP;
  }

  /** Cuts short the exchange left to its answer, if one still is: none is left to say. */
  cutShort(): void {
    this.lingering?.abort();
    this.givenUp = undefined;
  }
}
