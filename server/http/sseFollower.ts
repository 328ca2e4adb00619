// Streams what a fan-out follower is handed (listen/fanout.ts) to one SSE client. Each batch
// is rendered into one payload and written with one write, from within the fan-out's round,
// and the follower is advanced once the payload has left for the socket: that is what lets
// the fan-out read for it again (see sse.ts for a client that does not keep up).
import type { Fanout } from '../listen/fanout.js';
import type { SseConnection } from './sse.js';

export interface Rendered<C> {
  payload: string | Buffer;
  /** The follower's cursor after this payload; null: the stream is over, end it. */
  next: C | null;
  /** The batch was full: more can be read at once. */
  more: boolean;
}

/** Follows `fanout` from `cursor` until the client goes away or a rendered batch ends the stream. */
export async function streamFollower<C, B>(
  sse: SseConnection,
  fanout: Fanout<C, B>,
  cursor: C,
  render: (batch: B) => Rendered<C>,
  log: (line: string) => void,
): Promise<void> {
  const follower = fanout.join(cursor, () => {
    const batch = follower.take();
    if (!batch || !sse.isOpen) return;
    let rendered: Rendered<C>;
    try {
      rendered = render(batch);
    } catch (error) {
      // Thrown from the fan-out's round, it would stop the round for every other client.
      log(`an SSE stream failed to render a batch: ${(error as Error).message}`);
      sse.end();
      return;
    }
    const { payload, next, more } = rendered;
    const flowing = sse.write(payload);
    if (next === null) sse.end();
    else if (flowing) follower.advance(next, more);
    else sse.drained(() => follower.advance(next, more));
  });
  try {
    await sse.closed;
  } finally {
    follower.leave();
    sse.end();
  }
}
