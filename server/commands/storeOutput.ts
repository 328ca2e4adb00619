// Stores output chunks of an execution. A batch re-sent after a lost answer stores nothing
// twice: chunks at or below the last number seen per stream are skipped, and the key
// (execution, stream, seq) backs that up. Past the per-execution cap,
// chunks are dropped and counted (once, even when re-sent), and one truncation mark
// (stderr, seq -1) says so.
import { sql } from 'slonik';
import type { Db } from '../db/pool.js';

export interface Chunk {
  stream: 'stdout' | 'stderr';
  seq: number;
  data: Buffer;
}

export async function storeOutput(tx: Db, executionId: number, chunks: Chunk[], capBytes: number): Promise<void> {
  if (chunks.length === 0) return;
  // Creates or locks the execution's counters in one statement: its reports serialise here.
  const size = await tx.one(sql.unsafe`
    INSERT INTO execution_output_size AS s (execution_id, bytes) VALUES (${executionId}, 0)
    ON CONFLICT (execution_id) DO UPDATE SET bytes = s.bytes
    RETURNING bytes, dropped, stdout_seen, stderr_seen`);
  const seen: Record<Chunk['stream'], number> = { stdout: size.stdout_seen, stderr: size.stderr_seen };
  let bytes = size.bytes;
  let dropped = 0;
  const keep: Chunk[] = [];
  for (const chunk of chunks) {
    // The worker's spool sends each stream's chunks in order: a number not beyond the last
    // one seen is a re-sent chunk, stored or dropped (and counted) already.
    if (chunk.seq <= seen[chunk.stream]) continue;
    seen[chunk.stream] = chunk.seq;
    if (bytes + chunk.data.length > capBytes) {
      dropped += chunk.data.length;
      continue;
    }
    bytes += chunk.data.length;
    keep.push(chunk);
  }
  if (dropped > 0 && size.dropped === 0) {
    keep.push({ stream: 'stderr', seq: -1, data: Buffer.from(`\n[labq: output truncated: more than ${capBytes} bytes; the rest was dropped]\n`) });
  }
  if (keep.length) {
    await tx.query(sql.unsafe`
      INSERT INTO execution_output (execution_id, stream, seq, data)
      SELECT ${executionId}, s, q, decode(d, 'base64')
      FROM unnest(${sql.array(keep.map((c) => c.stream), 'text')}, ${sql.array(keep.map((c) => c.seq), 'int4')},
                  ${sql.array(keep.map((c) => c.data.toString('base64')), 'text')}) AS u(s, q, d)
      ON CONFLICT (execution_id, stream, seq) DO NOTHING`);
  }
  await tx.query(sql.unsafe`
    UPDATE execution_output_size SET bytes = ${bytes}, dropped = dropped + ${dropped},
      stdout_seen = ${seen.stdout}, stderr_seen = ${seen.stderr}
    WHERE execution_id = ${executionId}`);
}
