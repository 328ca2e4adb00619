// Stores output chunks of an execution. Chunks are keyed by (execution, stream, seq), so
// a batch re-sent after a lost answer stores nothing twice. Past the per-execution cap,
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
  await tx.query(sql.unsafe`INSERT INTO execution_output_size (execution_id, bytes) VALUES (${executionId}, 0) ON CONFLICT DO NOTHING`);
  const size = await tx.one(sql.unsafe`
    SELECT bytes, dropped, stdout_seen, stderr_seen FROM execution_output_size WHERE execution_id = ${executionId} FOR UPDATE`);
  const seen = { stdout: size.stdout_seen as number, stderr: size.stderr_seen as number };
  const known = new Set(
    ((await tx.any(sql.unsafe`
      SELECT stream, seq FROM execution_output WHERE execution_id = ${executionId}
        AND (stream, seq) IN (SELECT * FROM unnest(${sql.array(chunks.map((c) => c.stream), 'text')}, ${sql.array(chunks.map((c) => c.seq), 'int4')}))`)) as any[])
      .map((r) => `${r.stream}:${r.seq}`),
  );
  let bytes = size.bytes;
  let dropped = 0;
  const keep: Chunk[] = [];
  for (const chunk of chunks) {
    if (known.has(`${chunk.stream}:${chunk.seq}`)) continue;
    known.add(`${chunk.stream}:${chunk.seq}`);
    if (bytes + chunk.data.length > capBytes) {
      // Chunks come in order per stream: one not beyond the last seen was counted already.
      if (chunk.seq > seen[chunk.stream]) dropped += chunk.data.length;
      seen[chunk.stream] = Math.max(seen[chunk.stream], chunk.seq);
      continue;
    }
    seen[chunk.stream] = Math.max(seen[chunk.stream], chunk.seq);
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
