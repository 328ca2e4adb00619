// What a projection is: the tables it owns and the one function that applies events to
// them. The same function serves the inline path (each command, in its transaction) and
// `labq admin rebuild` (the whole log, in batches), so the two cannot disagree.
import type { Db } from '../db/pool.js';
import type { StoredEvent } from '../events/types.js';

export interface Projection {
  name: string;
  /** Tables a rebuild truncates before replaying; dependent tables (task_counts) included. */
  tables: string[];
  /** Applies a run of events that all have type `type` and touch distinct streams. */
  apply(db: Db, type: string, events: StoredEvent[]): Promise<void>;
}
