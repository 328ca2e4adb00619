// The task list's state in the URL (its filter and order) and what it has read of the list:
// the count of the filter, and pages read by offset as they scroll into view. Pages are kept
// once read; a live refresh rereads those in view and marks the others stale, to be reread
// when they come back into view, so scrolling back shows them at once and then up to date.
import type { RouteQuery } from '../../../shared/api.js';
import type { TaskFilterBody, TaskListItem, TaskSort } from '../../../shared/schemas/task.js';
import type { TaskCounts } from '../../../shared/schemas/workflow.js';
import { describe } from './load.svelte.js';
import { api } from './session.svelte.js';

/** The filter's parameters, named in the URL as in the API's query (status and failure_class comma-separated). */
export const FILTER_KEYS = ['ids', 'status', 'workflow_id', 'step_id', 'tag', 'q', 'worker_id', 'failure_class', 'reason'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type TaskFilterParams = Partial<Record<FilterKey, string>>;

export const PAGE_SIZE = 100;
/** How long the view must rest on rows before they are read: dragging the scrollbar across the list reads nothing on the way. */
const SETTLE_MS = 60;

export function readFilter(query: URLSearchParams): TaskFilterParams {
  const filter: TaskFilterParams = {};
  for (const key of FILTER_KEYS) {
    const value = query.get(key);
    if (value) filter[key] = value;
  }
  return filter;
}

/**
 * The filter as the list's and the count's query, values as the URL has them: the server
 * checks them, and a reason that is not one is refused there and said, not dropped here.
 */
export const filterQuery = (filter: TaskFilterParams) => filter as RouteQuery<'countTasks'>;

/** The same filter as a bulk action's `filter`: every task when it has no criterion. */
export function filterBody(filter: TaskFilterParams): TaskFilterBody {
  const list = (value: string | undefined) => value?.split(',').filter(Boolean);
  const id = (value: string | undefined) => (value ? Number(value) : undefined);
  const body = {
    ids: list(filter.ids)?.map(Number),
    status: list(filter.status) as TaskFilterBody['status'],
    workflow_id: id(filter.workflow_id),
    step_id: id(filter.step_id),
    tag: filter.tag,
    q: filter.q,
    worker_id: id(filter.worker_id),
    failure_class: list(filter.failure_class) as TaskFilterBody['failure_class'],
    reason: filter.reason as TaskFilterBody['reason'],
  };
  const given = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as TaskFilterBody;
  return Object.keys(given).length ? given : { all: true };
}

const WORDS: Record<FilterKey, (value: string) => string> = {
  ids: (v) => `tasks #${v.replaceAll(',', ', #')}`,
  status: (v) => `status ${v.replaceAll(',', ', ')}`,
  workflow_id: (v) => `workflow #${v}`,
  step_id: (v) => `step #${v}`,
  tag: (v) => `tag ${v}`,
  q: (v) => `text "${v}"`,
  worker_id: (v) => `worker #${v}`,
  failure_class: (v) => `failure ${v.replaceAll(',', ', ')}`,
  reason: (v) => `waiting: ${v.replaceAll('_', ' ')}`,
};

/** The filter in words, for a confirmation: `status pending, held · text "align"`. */
export function filterText(filter: TaskFilterParams): string {
  const parts = FILTER_KEYS.filter((k) => filter[k]).map((k) => WORDS[k](filter[k]!));
  return parts.length ? parts.join(' · ') : 'no criterion: every task';
}

export class TaskPages {
  /** Tasks the filter matches; null until the first answer. */
  total = $state<number | null>(null);
  byStatus = $state.raw<TaskCounts>({});
  error = $state<string | null>(null);
  private pages = $state.raw(new Map<number, TaskListItem[]>());
  private stale = new Set<number>();
  private reading = new Set<number>();
  private generation = 0;
  private view: [number, number] = [0, 0];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly filter: () => TaskFilterParams,
    private readonly sort: () => string,
  ) {}

  item(index: number): TaskListItem | undefined {
    return this.pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  /** How many rows have been read. */
  get size(): number {
    let n = 0;
    for (const items of this.pages.values()) n += items.length;
    return n;
  }

  /** The rows read so far between two positions (first included), in list order. */
  loaded(from = 0, to = Number.MAX_SAFE_INTEGER): TaskListItem[] {
    const rows: TaskListItem[] = [];
    for (const [page, items] of [...this.pages].sort((a, b) => a[0] - b[0])) {
      items.forEach((item, i) => {
        const index = page * PAGE_SIZE + i;
        if (index >= from && index < to) rows.push(item);
      });
    }
    return rows;
  }

  /** A new filter or order: everything read so far is dropped. */
  reset(): void {
    this.generation++;
    this.pages = new Map();
    this.stale.clear();
    this.reading.clear();
    this.total = null;
    this.error = null;
    void this.count();
    this.readVisible();
  }

  /** Which rows are in view; their pages are read once the view settles. */
  show(first: number, last: number): void {
    this.view = [first, last];
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.readVisible();
    }, SETTLE_MS);
  }

  /** Something changed: the count and the pages in view again, the others when they are next seen. */
  refresh(): void {
    for (const page of this.pages.keys()) this.stale.add(page);
    void this.count();
    this.readVisible();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.generation++;
  }

  private visiblePages(): number[] {
    const [first, last] = this.view;
    const pages = [];
    for (let page = Math.floor(first / PAGE_SIZE); page <= Math.floor(Math.max(first, last - 1) / PAGE_SIZE); page++) pages.push(page);
    return pages;
  }

  private readVisible(): void {
    for (const page of this.visiblePages()) if (!this.pages.has(page) || this.stale.has(page)) void this.read(page);
  }

  private async read(page: number): Promise<void> {
    if (this.reading.has(page)) return;
    const generation = this.generation;
    this.reading.add(page);
    this.stale.delete(page);
    try {
      const answer = await api().call('listTasks', {
        query: { ...filterQuery(this.filter()), sort: this.sort() as TaskSort, offset: page * PAGE_SIZE, limit: PAGE_SIZE },
      });
      if (generation !== this.generation) return;
      this.pages = new Map(this.pages).set(page, answer.items);
      this.error = null;
    } catch (error) {
      if (generation === this.generation) this.error = describe(error);
    } finally {
      if (generation === this.generation) {
        this.reading.delete(page);
        // Changes arrived while this page was on its way: it is read again if still in view.
        if (this.stale.has(page) && this.visiblePages().includes(page)) void this.read(page);
      }
    }
  }

  private async count(): Promise<void> {
    const generation = this.generation;
    try {
      const answer = await api().call('countTasks', { query: filterQuery(this.filter()) });
      if (generation !== this.generation) return;
      this.total = answer.count;
      this.byStatus = answer.by_status;
      this.error = null;
      const pages = Math.ceil(answer.count / PAGE_SIZE);
      if ([...this.pages.keys()].some((page) => page >= pages)) {
        this.pages = new Map([...this.pages].filter(([page]) => page < pages));
      }
    } catch (error) {
      if (generation === this.generation) this.error = describe(error);
    }
  }
}
