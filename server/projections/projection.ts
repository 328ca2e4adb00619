// What a projection is: the tables it owns and the one function that says how events change
// them. The same function serves the inline path (each command, in its transaction) and
// `labq admin rebuild` (the whole log, in batches), so the two cannot disagree. It returns
// its statements rather than running them, so that applyEvents can send the statements of
// several projections for one run of events as one (applyEvents.ts).
import type { FragmentSqlToken } from 'slonik';
import type { ProjectedEvent } from '../events/types.js';

export interface Projection {
  name: string;
  /** Tables a rebuild truncates before replaying; dependent tables (task_counts) included. */
  tables: string[];
  /**
   * The statements, in order, that apply a run of events that all have type `type` and touch
   * distinct streams; none for a type this projection does not follow.
   */
  statements(type: string, events: ProjectedEvent[]): FragmentSqlToken[];
}
