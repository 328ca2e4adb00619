// The page's one connection to the event stream (GET /api/v1/events/stream): every view
// subscribes here rather than opening its own, and refreshes what an event concerns. It is
// read with fetch rather than EventSource, which cannot send a token. After a network cut
// or a server restart it reconnects with the last event id it saw (Last-Event-ID), so the
// server replays what was missed and nothing is skipped; meanwhile `state` says so.
import { LabqApiError } from '../../../shared/client.js';
import type { EventRecord } from '../../../shared/schemas/event.js';
import { parseSse } from '../../../shared/sse.js';
import { api, session } from './session.svelte.js';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

type Listener = (event: EventRecord) => void;

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;

class Live {
  state = $state<LiveState>('connecting');
  /** The cursor of the last event received: where a reconnect resumes. */
  lastId = $state<string | null>(null);
  /** Events received since the page loaded (the status bar's `data-events`, which tests read). */
  received = $state(0);
  private listeners = new Set<Listener>();
  private controller: AbortController | null = null;

  /** Follows the log from `head` (the newest event when the page's data was read) until stop(). */
  start(head: string | null): void {
    this.stop();
    this.lastId = head;
    const controller = new AbortController();
    this.controller = controller;
    void this.run(controller.signal);
  }

  stop(): void {
    this.controller?.abort();
    this.controller = null;
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe (what an $effect returns). */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async run(signal: AbortSignal): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (!signal.aborted) {
      try {
        const response = await api().fetch('streamEvents', { headers: { 'last-event-id': this.lastId ?? '0-0' }, signal }, 'text/event-stream');
        // Live once the server has answered, not when the request leaves: a page that says
        // "Live" while its server is down would lie about what it shows.
        this.state = 'live';
        if (!response.body) throw new Error('the event stream has no body');
        for await (const message of parseSse(response.body)) {
          delay = RETRY_MIN_MS;
          if (message.id) this.lastId = message.id;
          const event = JSON.parse(message.data) as EventRecord;
          this.received++;
          // One view's failing listener must not end the stream: the cursor has moved past
          // this event, and the listeners after it would never get it. The error is reported.
          for (const listener of this.listeners) {
            try {
              listener(event);
            } catch (error) {
              reportError(error);
            }
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof LabqApiError && error.status === 401) {
          session.expired();
          return;
        }
      }
      if (signal.aborted) return;
      this.state = 'reconnecting';
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }
}

export const live = new Live();

/** Events held while a reload is under way, at most: one more means another reload follows anyway. */
const HELD_MAX = 1000;

/**
 * Calls `refresh` when events that `concerns` accepts arrive, at most once per `ms` (a burst
 * of a thousand task events is one reload). Meant for an $effect: it returns the unsubscribe.
 *
 * Where `concerns` looks at what was loaded (a worker's executions, a schedule's runs), an
 * event that came while a reload was under way was judged against the list before it: an
 * execution that the reload brought and that ended meanwhile was left showing running. Such
 * events are held and judged again once the promise `refresh` returns has settled.
 */
export function refreshOn(concerns: (event: EventRecord) => boolean, refresh: () => unknown, ms = 250): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let held: EventRecord[] | null = null;
  let stopped = false;
  const schedule = () => {
    timer = setTimeout(() => void reload(), ms);
  };
  const reload = async () => {
    timer = null;
    const mine: EventRecord[] = [];
    held = mine;
    try {
      await refresh();
    } finally {
      if (held === mine) held = null;
    }
    if (!stopped && !timer && (mine.length > HELD_MAX || mine.some(concerns))) schedule();
  };
  const unsubscribe = live.subscribe((event) => {
    // A reload is due: it reads what this event changed.
    if (timer) return;
    if (concerns(event)) return schedule();
    if (held && held.length <= HELD_MAX) held.push(event);
  });
  return () => {
    stopped = true;
    unsubscribe();
    if (timer) clearTimeout(timer);
  };
}
