// A Server-Sent Events connection over a Koa context: the headers, writes, keep-alive
// comments, and the moment the client goes away. Shared by every streaming endpoint.
//
// Writes are not awaited. A stream writes each batch it is handed as one payload, from the
// fan-out's round itself (sseFollower.ts): a thousand clients cost a thousand writes per
// wake-up, and no task, promise or timer each.
//
// Back-pressure: when a write returns false (the socket's buffer is full), the stream takes
// nothing more until 'drain'. Its follower is not advanced meanwhile, so the fan-out does not
// read for it; once drained it reads on from its own cursor in the same statements as the
// others and catches up. A slow client therefore holds at most one payload beyond the socket's
// buffer, and the server never queues events for it. It is not cut off: a reader that is slow
// for a while (a background tab, a congested link) catches up without reconnecting, and one
// that stalls holds that one payload until its connection closes.
import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { KEEP_ALIVE, OPENING } from './sseFormat.js';

/** Quiet time after which a comment is sent, so that proxies and browsers keep the connection. */
const KEEP_ALIVE_MS = 15_000;
const TICK_MS = 1000;

/** One timer for every open connection of the process, rather than one per connection re-armed at every write. */
const open = new Set<SseConnection>();
let ticker: NodeJS.Timeout | null = null;

function track(connection: SseConnection): void {
  open.add(connection);
  ticker ??= setInterval(() => {
    for (const c of open) c.tick();
  }, TICK_MS).unref();
}

function untrack(connection: SseConnection): void {
  open.delete(connection);
  if (!open.size && ticker) {
    clearInterval(ticker);
    ticker = null;
  }
}

export class SseConnection {
  /** Settles when the client has gone away or the stream has ended. */
  readonly closed: Promise<void>;
  private gone = false;
  private quietTicks = 0;
  private readonly res: ServerResponse;

  constructor(ctx: Context) {
    ctx.respond = false;
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    this.res = ctx.res;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // A HEAD gets the stream's headers and nothing else: Node drops what is written to a
    // HEAD answer without ever sending its headers, which would leave the client waiting.
    if (ctx.method === 'HEAD') this.res.end();
    else this.res.write(OPENING);
    this.closed = new Promise((resolve) => {
      const close = () => {
        this.gone = true;
        untrack(this);
        resolve();
      };
      ctx.req.once('close', close);
      this.res.once('close', close);
    });
    if (ctx.method === 'HEAD') this.gone = true;
    else track(this);
  }

  get isOpen(): boolean {
    return !this.gone;
  }

  /** Writes at once; false: the socket's buffer is full (or the client gone), write no more before `drained`. */
  write(payload: string | Buffer): boolean {
    if (this.gone) return false;
    if (!payload.length) return true;
    this.quietTicks = 0;
    return this.res.write(payload);
  }

  /** Calls `then` once the socket's buffer has drained; never if the client goes away first. */
  drained(then: () => void): void {
    this.res.once('drain', then);
  }

  /** Called by the process's ticker: a keep-alive comment after KEEP_ALIVE_MS of quiet, unless the client is not reading anyway. */
  tick(): void {
    if (this.gone || this.res.writableNeedDrain) return;
    if (++this.quietTicks * TICK_MS >= KEEP_ALIVE_MS) this.write(KEEP_ALIVE);
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }
}
