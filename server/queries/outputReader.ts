// The output reader of a server process: the one reader of new output for every follower
// of GET /executions/{id}/output?follow=1 in the process. Each wake-up (output stored for a
// followed execution, an execution event, a LISTEN reconnect) costs two statements for all
// followers of all executions: their statuses, then their new chunks by chunk number. The
// reads go through the fan-out (listen/fanout.ts), like the log tailer's.
import { isLive } from '../../shared/schemas/execution.js';
import type { Pool } from '../db/pool.js';
import { Fanout } from '../listen/fanout.js';
import { EVENTS_CHANNEL, OUTPUT_CHANNEL, type ListenHub } from '../listen/hub.js';
import { executionStatuses, outputCursorKey, readOutputOfEach, type OutputChunk, type OutputCursor } from './executions.js';

const BATCH = 1000;
/** How often followers look anyway, in case a wake-up was lost. */
const SAFETY_MS = 30_000;

/** What one follower is handed: chunks of both streams after its cursor, in order. */
export interface OutputBatch {
  chunks: OutputChunk[];
  after: number;
  more: boolean;
  /** The execution's final status, once it has ended and these are its last chunks. */
  ended: string | null;
}

export type OutputReader = Fanout<OutputCursor, OutputBatch>;

export function outputReader(pool: Pool, hub: ListenHub, log: (line: string) => void): OutputReader {
  return new Fanout<OutputCursor, OutputBatch>(
    hub,
    {
      key: outputCursorKey,
      concerns(channel, changed, cursors) {
        if (channel === null || changed === null) return true;
        if (channel === EVENTS_CHANNEL) return changed.has('execution');
        return channel === OUTPUT_CHANNEL && cursors.some((c) => changed.has(String(c.execution)));
      },
      async read(cursors) {
        // Statuses first: chunks stored before an execution ended are then all visible below.
        const statuses = await executionStatuses(pool, [...new Set(cursors.map((c) => c.execution))]);
        const chunks = await readOutputOfEach(pool, cursors, BATCH);
        const batches = new Map<string, OutputBatch>();
        for (const cursor of cursors) {
          const read = chunks.get(outputCursorKey(cursor))!;
          const status = statuses.get(cursor.execution);
          const ended = status && !isLive(status) && read.length < BATCH ? status : null;
          if (read.length || ended) {
            batches.set(outputCursorKey(cursor), { chunks: read, after: read.at(-1)?.n ?? cursor.after, more: read.length === BATCH, ended });
          }
        }
        return { batches };
      },
    },
    log,
    SAFETY_MS,
  );
}
