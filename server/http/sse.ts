// A Server-Sent Events connection over a Koa context: headers, writes that respect
// back-pressure, keep-alive comments, and a wait that ends on the first of a wake-up,
// a timeout or the client going away. Shared by every streaming endpoint.
import type { Context } from 'koa';

export const KEEP_ALIVE_MS = 15_000;

export class SseConnection {
  closed = false;
  private wakeUp: (() => void) | null = null;
  private pendingWake = false;
  private lastWrite = Date.now();

  constructor(private readonly ctx: Context) {
    ctx.respond = false;
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    ctx.res.write('retry: 2000\n: connected\n\n');
    const close = () => {
      this.closed = true;
      this.wake();
    };
    ctx.req.on('close', close);
    ctx.res.on('close', close);
  }

  /** Marks that something may have changed; an ongoing or the next wait returns at once. */
  wake(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  async send(data: unknown, id?: string, event?: string): Promise<void> {
    let frame = '';
    if (id) frame += `id: ${id}\n`;
    if (event) frame += `event: ${event}\n`;
    frame += `data: ${JSON.stringify(data)}\n\n`;
    await this.write(frame);
  }

  /** Moves the client's Last-Event-ID forward without dispatching an event. */
  async advance(id: string): Promise<void> {
    await this.write(`id: ${id}\n\n`);
  }

  private async write(frame: string): Promise<void> {
    if (this.closed) return;
    this.lastWrite = Date.now();
    if (!this.ctx.res.write(frame)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.ctx.res.off('drain', done);
          this.ctx.res.off('close', done);
          resolve();
        };
        this.ctx.res.on('drain', done);
        this.ctx.res.on('close', done);
      });
    }
  }

  /** Waits for a wake-up or `ms`; sends a keep-alive comment when the line has been quiet. */
  async wait(ms: number): Promise<void> {
    if (this.closed) return;
    if (!this.pendingWake) {
      const timeout = Math.min(ms, Math.max(0, KEEP_ALIVE_MS - (Date.now() - this.lastWrite)));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeout);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
    }
    this.pendingWake = false;
    if (Date.now() - this.lastWrite >= KEEP_ALIVE_MS) await this.write(': keep-alive\n\n');
  }

  end(): void {
    if (!this.ctx.res.writableEnded) this.ctx.res.end();
  }
}
