// Routes of /executions: read one, take a worker's reports, and read or follow output. A
// worker token reports on, and reads the output size of, its own worker's executions only.
// Following streams chunks as SSE (id = chunk number, so a reconnect resumes after the
// last chunk seen) and ends with an `end` event once the execution has ended and every
// chunk has been sent. Followers do not read on their own: the process's output reader
// (queries/outputReader.ts) reads for all of them at once. Unlike the event stream's, their
// frames are built per follower: a chunk may end inside a UTF-8 character, so its text
// depends on the follower's own decoder, that is, on where it started reading.
import type Router from '@koa/router';
import { StringDecoder } from 'node:string_decoder';
import { reportExecution } from '../../commands/reportExecution.js';
import { invalid, notFound } from '../../errors.js';
import { getExecution, outputSize, readOutput } from '../../queries/executions.js';
import { actsOnExecution, ownWorker } from '../access.js';
import { bind } from '../bind.js';
import type { ServerContext } from '../context.js';
import { SseConnection } from '../sse.js';
import { streamFollower } from '../sseFollower.js';
import { sseFrame } from '../sseFormat.js';

const BATCH = 1000;

export function executionRoutes(router: Router, { pool, outputs, settings, log }: ServerContext): void {
  bind(router, 'getExecution', async ({ params }) => {
    const execution = await getExecution(pool, params.id);
    if (!execution) throw notFound(`execution ${params.id}`);
    return execution;
  });

  bind(router, 'executionReports', async ({ params, body, meta, ctx }) => {
    await reportExecution(pool, params.id, body.reports, settings, meta, ownWorker(ctx.state.identity));
    return { ok: true as const };
  });

  bind(router, 'executionOutputSize', async ({ params, ctx }) => {
    const execution = await getExecution(pool, params.id);
    if (!execution) throw notFound(`execution ${params.id}`);
    actsOnExecution(ctx.state.identity, execution);
    return outputSize(pool, params.id);
  });

  bind(router, 'executionOutput', async ({ params, query, ctx }) => {
    const id = params.id;
    if (!(await getExecution(pool, id))) throw notFound(`execution ${id}`);
    const follow = query.follow === '1' || query.follow === 'true';
    if (!follow) {
      const parts: Buffer[] = [];
      for (let after = 0; ; ) {
        const chunks = await readOutput(pool, id, after, query.stream, BATCH);
        parts.push(...chunks.map((c) => c.data));
        if (chunks.length < BATCH) break;
        after = chunks[chunks.length - 1]!.n;
      }
      ctx.status = 200;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = Buffer.concat(parts);
      return;
    }
    const header = ctx.get('last-event-id');
    if (header && !/^\d{1,16}$/.test(header)) throw invalid([{ field: 'Last-Event-ID', message: 'a chunk number from a previous event' }]);
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    await streamFollower(new SseConnection(ctx), outputs, { execution: id, after: header ? Number(header) : 0 }, (batch) => {
      let text = '';
      for (const chunk of batch.chunks) {
        if (query.stream && chunk.stream !== query.stream) continue;
        text += sseFrame({ stream: chunk.stream, text: decoders[chunk.stream].write(chunk.data) }, String(chunk.n));
      }
      if (batch.ended) return { payload: text + sseFrame({ status: batch.ended }, undefined, 'end'), next: null, more: false };
      return { payload: text, next: { execution: id, after: batch.after }, more: batch.more };
    }, log);
  });
}
