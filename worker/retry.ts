// A small bounded retry for one transfer: a connection that drops mid-transfer is tried again
// after a short backoff, anything else (a missing object, a refused login) fails at once.

const ATTEMPTS = 3;
const FIRST_BACKOFF_MS = 500;

const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE',
  // A body shorter or longer than announced: cut, or changed while it was read.
  'LABQ_SIZE_MISMATCH',
]);

/** Runs `attempt` up to three times while it fails with a dropped connection, backing off 0.5 s then 1 s. */
export async function withRetries<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= ATTEMPTS || signal?.aborted || !isTransient(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, FIRST_BACKOFF_MS * 2 ** (n - 1)));
    }
  }
}

/** A dropped or refused connection, a truncated body, a 5xx or an FTP 421/425/426: worth another try. */
export function isTransient(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown; $metadata?: { httpStatusCode?: number }; status?: number } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
    if (typeof e.code === 'number' && [421, 425, 426].includes(e.code)) return true;
    if ((e.$metadata?.httpStatusCode ?? 0) >= 500 || (e.status ?? 0) >= 500) return true;
    if (e instanceof Error && /socket hang up|terminated|closed before|premature close|FIN packet unexpectedly/i.test(e.message)) return true;
    if (e === e.cause) break;
  }
  return false;
}

/** Thrown for an HTTP answer, so a 5xx can be retried and a 4xx not. */
export class HttpStatusError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}
