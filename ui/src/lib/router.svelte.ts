// The URL holds the view and its filters: every view reads its state from here and writes
// it back, so any page can be bookmarked, shared and reloaded as it is.
export interface Route {
  view: string;
  id?: number;
}

const PATTERNS: [RegExp, string][] = [
  [/^\/$/, 'overview'],
  [/^\/workflows$/, 'workflows'],
  [/^\/workflows\/(\d+)$/, 'workflow'],
  [/^\/tasks$/, 'tasks'],
  [/^\/tasks\/(\d+)$/, 'task'],
  [/^\/workers$/, 'workers'],
  [/^\/workers\/(\d+)$/, 'worker'],
  [/^\/schedules$/, 'schedules'],
  [/^\/schedules\/(\d+)$/, 'schedule'],
  [/^\/events$/, 'events'],
  [/^\/login$/, 'login'],
];

function parse(path: string): Route {
  for (const [pattern, view] of PATTERNS) {
    const match = pattern.exec(path);
    if (match) return match[1] ? { view, id: Number(match[1]) } : { view };
  }
  return { view: 'notfound' };
}

const QUERY_COALESCE_MS = 1000;

class Router {
  path = $state(location.pathname);
  search = $state(location.search);
  route = $derived(parse(this.path));
  query = $derived(new URLSearchParams(this.search));

  constructor() {
    addEventListener('popstate', () => {
      // A change right after Back is a new entry, not a replacement of the one gone back to.
      this.lastQueryAt = 0;
      this.sync();
    });
  }

  private lastQueryAt = 0;

  /** Goes to another page (a new history entry), at its top. */
  navigate(href: string, replace = false): void {
    this.lastQueryAt = 0;
    this.go(href, replace);
    if (!replace) scrollTo(0, 0);
  }

  private go(href: string, replace: boolean): void {
    if (replace) history.replaceState(null, '', href);
    else history.pushState(null, '', href);
    this.sync();
  }

  /**
   * Changes query parameters of this page (null or '' removes one), where it is scrolled. A
   * change is a history entry of its own, so Back returns to the filter before; one that
   * follows another within QUERY_COALESCE_MS (the keys of a search typed, a row of clicks)
   * replaces the entry the first made, so that they do not pile up. `replace` closes a passing
   * state (an editor) without leaving a step to reopen it.
   */
  setQuery(changes: Record<string, string | number | null | undefined>, replace?: boolean): void {
    const query = new URLSearchParams(this.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null || value === undefined || value === '') query.delete(key);
      else query.set(key, String(value));
    }
    const text = query.toString();
    const now = Date.now();
    const coalesced = replace ?? now - this.lastQueryAt < QUERY_COALESCE_MS;
    this.lastQueryAt = now;
    this.go(this.path + (text ? `?${text}` : ''), coalesced);
  }

  /** A query parameter of this page. */
  param(name: string): string | null {
    return this.query.get(name);
  }

  private sync(): void {
    this.path = location.pathname;
    this.search = location.search;
  }
}

export const router = new Router();

/** Follows same-origin links inside the app without a page load (plain clicks only: a ctrl-click still opens a tab). */
export function interceptLinks(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.target as Element).closest?.('a');
  if (!anchor || anchor.target || anchor.hasAttribute('download') || anchor.origin !== location.origin) return;
  if (anchor.pathname.startsWith('/api/')) return;
  event.preventDefault();
  router.navigate(anchor.pathname + anchor.search);
}
