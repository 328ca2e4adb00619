// The worker's way to its server: node:http with kept-alive connections, where fetch
// (undici) cost about a sixth of a busy worker's own CPU in its profile: 0.25–0.3 ms of CPU
// per request against about 0.05 ms this way (docs/performance.md). Each answer is read
// whole, as the worker's calls answer JSON. A call without a signal gives up after `answerMs`
// without an answer (five minutes for nodeTransport, as with fetch), and an abort rejects
// with the signal's reason. Unlike
// fetch it follows no redirect (the server sends none to its API's calls). A kept connection
// idle for IDLE_MS is closed, well within the server's keep-alive (65 s), so that one the
// server closed is not used again (Node's agent does not time out idle sockets by itself).
import http from 'node:http';
import https from 'node:https';
import type { BufferedAnswer, Transport } from '../shared/client.js';

const IDLE_MS = 30_000;
/** What fetch waits for an answer by default (undici's headers timeout). */
const ANSWER_MS = 300_000;

const agents = { http: new http.Agent({ keepAlive: true, timeout: IDLE_MS }), https: new https.Agent({ keepAlive: true, timeout: IDLE_MS }) };

/** The transport, giving up on a call without a signal after `answerMs` without an answer. */
export const httpTransport = (answerMs = ANSWER_MS): Transport => (url, request) => new Promise<BufferedAnswer>((resolve, reject) => {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  // The caller's abort keeps its reason; this transport's own timeout is a server that did not answer.
  const timeout = request.signal ? undefined : AbortSignal.timeout(answerMs);
  const signal = request.signal ?? timeout!;
  const fail = (error: unknown) =>
    reject(request.signal?.aborted ? request.signal.reason : timeout?.aborted ? new Error(`no answer within ${answerMs / 1000} s`) : error);
  const sent = (secure ? https : http).request(target, {
    method: request.method, headers: request.headers, agent: secure ? agents.https : agents.http, signal,
  }, (response) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
    response.on('error', fail);
  });
  sent.on('error', fail);
  sent.end(request.body);
});

export const nodeTransport: Transport = httpTransport();
