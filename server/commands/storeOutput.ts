// Stores output chunks of any number of executions in two statements. A batch re-sent
// after a lost answer stores nothing twice: chunks at or below the last number seen per
// stream are skipped, and the key (execution, stream, seq) backs that up. Past the
// per-execution cap, chunks are dropped and counted (once, even when re-sent), every one
// after the first dropped too, and one truncation mark (stderr, seq -1) says so. Runs
// after the executions are locked; the counters rows are locked here, in execution id order.
import { sql } from 'slonik';
import { z } from 'zod';
import type { Db } from '../db/pool.js';

export interface Chunk {
  stream: 'stdout' | 'stderr';
  seq: number;
  data: Buffer;
}

const OutputSize = z.object({
  execution_id: z.number(), bytes: z.number(), dropped: z.number(), stdout_seen: z.number(), stderr_seen: z.number(),
});

export async function storeOutput(tx: Db, chunksByExecution: Map<number, Chunk[]>, capBytes: number): Promise<void> {
  const ids = [...chunksByExecution].filter(([, chunks]) => chunks.length > 0).map(([id]) => id).sort((a, b) => a - b);
  if (ids.length === 0) return;
  // Creates or locks the executions' counters in one statement: their reports serialise here.
  const sizes = await tx.any(sql.type(OutputSize)`
    INSERT INTO execution_output_size AS s (execution_id, bytes)
    SELECT x, 0 FROM unnest(${sql.array(ids, 'int8')}) AS x ORDER BY x
    ON CONFLICT (execution_id) DO UPDATE SET bytes = s.bytes
    RETURNING execution_id, bytes, dropped, stdout_seen, stderr_seen`);
  const keep: Array<Chunk & { execution_id: number }> = [];
  const updates: Array<z.infer<typeof OutputSize>> = [];
  for (const size of sizes) {
    const seen: Record<Chunk['stream'], number> = { stdout: size.stdout_seen, stderr: size.stderr_seen };
    let bytes = size.bytes;
    let dropped = 0;
    for (const chunk of chunksByExecution.get(size.execution_id)!) {
      // The worker's spool sends each stream's chunks in order: a number not beyond the last
      // one seen is a re-sent chunk, stored or dropped (and counted) already.
      if (chunk.seq <= seen[chunk.stream]) continue;
      seen[chunk.stream] = chunk.seq;
      // Once a chunk is dropped, so is every later one, though it would fit: what is stored
      // stays the start of the output, with no hole in it before the truncation mark.
      if (size.dropped > 0 || dropped > 0 || bytes + chunk.data.length > capBytes) {
        dropped += chunk.data.length;
        continue;
      }
      bytes += chunk.data.length;
      keep.push({ ...chunk, execution_id: size.execution_id });
    }
    if (dropped > 0 && size.dropped === 0) {
      keep.push({
        execution_id: size.execution_id, stream: 'stderr', seq: -1,
        data: Buffer.from(`\n[labq: output truncated: more than ${capBytes} bytes; the rest was dropped]\n`),
      });
    }
    updates.push({ execution_id: size.execution_id, bytes, dropped, stdout_seen: seen.stdout, stderr_seen: seen.stderr });
  }
  // The chunks and the counters in one statement (one round trip): different tables, no row
  // read twice. No INSERT at all without chunks: its trigger would announce output anyway.
  const stored = keep.length === 0 ? sql.fragment`` : sql.fragment`
    WITH stored AS (
      INSERT INTO execution_output (execution_id, stream, seq, data)
      SELECT x, s, q, decode(d, 'base64')
      FROM unnest(${sql.array(keep.map((c) => c.execution_id), 'int8')}, ${sql.array(keep.map((c) => c.stream), 'text')},
                  ${sql.array(keep.map((c) => c.seq), 'int4')}, ${sql.array(keep.map((c) => c.data.toString('base64')), 'text')}) AS u(x, s, q, d)
      ON CONFLICT (execution_id, stream, seq) DO NOTHING
    )`;
  await tx.query(sql.unsafe`${stored}
    UPDATE execution_output_size o SET bytes = u.bytes, dropped = o.dropped + u.dropped, stdout_seen = u.so, stderr_seen = u.se
    FROM unnest(${sql.array(updates.map((u) => u.execution_id), 'int8')}, ${sql.array(updates.map((u) => u.bytes), 'int8')},
                ${sql.array(updates.map((u) => u.dropped), 'int8')}, ${sql.array(updates.map((u) => u.stdout_seen), 'int4')},
                ${sql.array(updates.map((u) => u.stderr_seen), 'int4')}) AS u(x, bytes, dropped, so, se)
    WHERE o.execution_id = u.x`);
}
