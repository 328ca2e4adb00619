// Limits on the head of a request (its URL, its header block), and how a request over
// them is refused. A URL over MAX_URL_BYTES that still fits the header block reaches
// Koa, and `limitUrl` answers 414 there. A head over MAX_HEADER_BYTES never reaches Koa:
// Node's parser gives up and the server emits 'clientError'. Node's own answer to that
// is a bare status line followed by a destroy; when the client is still sending (one
// that writes its whole request before reading, like Python's http.client), the kernel
// then resets the connection over the unread bytes and the client sees ECONNRESET
// instead of the answer. `answerClientErrors` answers with a problem+json like every
// other refusal, half-closes, and reads and drops what the client still sends until it
// closes or DRAIN_MS pass, so no unread byte is left for the kernel to reset over.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context, Next } from 'koa';
import { MAX_HEADER_BYTES, MAX_URL_BYTES } from '../../shared/limits.js';
import { ProblemError, problemBody } from '../errors.js';

/** How long a refused client may go on sending before its connection is cut. */
const DRAIN_MS = 5_000;

const uriTooLong = () =>
  new ProblemError(414, 'URI too long', `the URL (path and query) may take at most ${MAX_URL_BYTES} bytes`);

export async function limitUrl(ctx: Context, next: Next): Promise<void> {
  if (ctx.req.url!.length > MAX_URL_BYTES) throw uriTooLong();
  await next();
}

/** What Node's HTTP parser attaches to the errors it emits as 'clientError'. */
interface ParseError extends Error {
  code?: string;
  bytesParsed?: number;
  rawPacket?: Buffer;
}

/**
 * Whether the head overflowed inside its request line. The parser says only "header
 * overflow", so this looks at the bytes it choked on: when they start with a method and
 * hold no line break up to the point of failure, the URL alone is too long. Otherwise
 * (including a request line that reached the server in several reads) it is a 431.
 */
function overflowedInRequestLine(error: ParseError): boolean {
  const head = error.rawPacket?.subarray(0, error.bytesParsed).toString('latin1') ?? '';
  return /^[A-Z]+ [^\r\n]*$/.test(head);
}

function problemFor(error: ParseError): ProblemError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return overflowedInRequestLine(error)
        ? uriTooLong()
        : new ProblemError(431, 'Request header fields too large', `the request line and headers may take at most ${MAX_HEADER_BYTES} bytes`);
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new ProblemError(413, 'Payload too large', 'the chunk extensions of the body are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ProblemError(408, 'Request timeout', 'the request did not arrive in time');
    default:
      return new ProblemError(400, 'Bad request', `the request is not valid HTTP/1.1 (${error.code})`);
  }
}

function rawAnswer(problem: ProblemError): string {
  const requestId = randomUUID();
  const body = JSON.stringify(problemBody(problem, requestId));
  return [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${requestId}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** Reads and drops what the client still sends, then closes once it has hung up too. */
function drain(socket: Duplex): void {
  // The parser's own listener would parse the rest, fail again and complain again.
  // Adding a 'data' listener also detaches the parser from the socket's handle.
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  const timer = setTimeout(() => socket.destroy(), DRAIN_MS);
  socket.once('end', () => (socket.writableFinished ? socket.destroy() : socket.once('finish', () => socket.destroy())));
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
}

export function answerClientErrors(server: Server): void {
  const refused = new WeakSet<Duplex>();
  server.on('clientError', (error: ParseError, socket: Duplex) => {
    // Later complaints about a connection already answered (the parser's, the timeouts').
    if (refused.has(socket)) return;
    refused.add(socket);
    const parserError = error.code?.startsWith('HPE_') || error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    // A response already under way on this connection (keep-alive) cannot be interrupted
    // by another status line: as Node does, answer only when none has started.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent: boolean } })._httpMessage;
    if (!parserError || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    socket.end(rawAnswer(problemFor(error)));
    drain(socket);
  });
}
