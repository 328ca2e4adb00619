// The text of Server-Sent Events as every streaming endpoint sends it, in one place: the
// frames are now built by whoever shares them among clients (eventFrames.ts) rather than by
// each connection, and they must stay byte for byte what clients have always parsed.

/** Opens every stream: reconnect after 2 s, and a comment so that proxies flush the headers. */
export const OPENING = 'retry: 2000\n: connected\n\n';

export const KEEP_ALIVE = ': keep-alive\n\n';

/** One message: `id:` (what a reconnect sends back as Last-Event-ID), `event:` if not a plain message, and the JSON. */
export function sseFrame(data: unknown, id?: string, event?: string): string {
  let frame = '';
  if (id) frame += `id: ${id}\n`;
  if (event) frame += `event: ${event}\n`;
  return `${frame}data: ${JSON.stringify(data)}\n\n`;
}

/** Moves the client's last event id forward without dispatching an event. */
export function idFrame(id: string): string {
  return `id: ${id}\n\n`;
}
